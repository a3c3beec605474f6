#!/usr/bin/perl
# Sisimai's side of bench_bounce.c: reads the files named in LIST (one path a line) into memory,
# parses them PASSES times with Sisimai, one message per call, and prints one line
# "messages=N records=N seconds=S" (S: the parse loop alone). Exits 3 without Sisimai.
use strict;
use warnings;
use Time::HiRes ();

BEGIN {
    unless (eval { require Sisimai; 1 }) {
        print STDERR "bench: Sisimai is not installed (Debian: apt-get install libsisimai-perl)\n";
        exit 3;
    }
}

my ($list, $passes) = @ARGV;
die "usage: $0 LIST PASSES\n" unless defined $passes && $passes =~ /\A[1-9][0-9]*\z/;

my @messages;
open my $paths, '<', $list or die "$list: $!\n";
while (my $path = <$paths>) {
    chomp $path;
    open my $file, '<:raw', $path or die "$path: $!\n";
    local $/;
    push @messages, scalar <$file>;
    close $file;
}
close $paths;

my ($count, $records) = (0, 0);
my $start = Time::HiRes::time();
for (1 .. $passes) {
    for my $text (@messages) {
        my $found = Sisimai->make(\$text);
        $records += scalar @$found if $found;
        $count++;
    }
}
printf "messages=%d records=%d seconds=%.6f\n", $count, $records, Time::HiRes::time() - $start;
