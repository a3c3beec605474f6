/* mailbisect command line: parses the command and hands over to the command's module. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("mailbisect %s\n", MB_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: mailbisect COMMAND ...\n");
	return EX_USAGE;
}
