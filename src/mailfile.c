/* Messages of a mail file or folder, one at a time: single messages, mbox files split line by
 * line within a bounded input buffer, Maildir and plain folders, standard input. */
#include "mailbisect/mailfile.h"
#include "mailbisect/buf.h"
#include "mailbisect/limits.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lines longer than this are passed on in pieces: only a line start can be a From_ line. */
#define LINE_LIMIT MB_MAX_LINE_BYTES
#define READ_CHUNK 65536u
#define INPUT_SIZE (LINE_LIMIT + READ_CHUNK)

struct mb_mailfile {
	size_t max_bytes;
	char **files; /* every file to read, owned; next_file is the next one to start */
	size_t n_files, next_file;

	/* The file being read. */
	char *file;        /* its name, owned; NULL between files */
	int fd;            /* -1 when not open */
	bool is_stdin;     /* fd is standard input: never closed here */
	bool done;         /* nothing more to read from it: the next call moves on */
	bool detected;     /* its first bytes were looked at */
	bool mbox;         /* it is an mbox */
	bool eof;          /* read() said end of file */
	size_t number;     /* messages begun in it */
	bool message_open; /* mbox: a From_ line began a message not returned yet */
	bool line_start;   /* the next input byte begins a line */
	bool prev_blank;   /* the last whole line was empty */
	size_t blank_tail; /* length of the message's last line when it is empty, else 0 */
	bool oversize;     /* the current message went over max_bytes: it is skipped */

	char *in; /* unconsumed input is in[in_pos..in_len) */
	size_t in_pos, in_len;
	struct mb_buf msg;
};

/* ---- Files and folders ------------------------------------------------------------------ */

static int add_file(struct mb_mailfile *mf, char *name)
{
	char **list;
	if (!name)
		return MB_ENOMEM;
	list = realloc(mf->files, (mf->n_files + 1) * sizeof *list);
	if (!list) {
		free(name);
		return MB_ENOMEM;
	}
	mf->files = list;
	mf->files[mf->n_files++] = name;
	return 0;
}

static char *join_path(const char *dir, const char *name)
{
	size_t dlen = strlen(dir), nlen = strlen(name);
	char *path;
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	path = malloc(dlen + 1 + nlen + 1);
	if (!path)
		return NULL;
	memcpy(path, dir, dlen);
	path[dlen] = '/';
	memcpy(path + dlen + 1, name, nlen + 1);
	return path;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int skip_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* By bytes, not by locale: the same order on every machine. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Adds the files of dir sorted by name. Subdirectories and special files are left out; an
 * entry that cannot be looked at stays, so that reading it reports why. */
static int list_dir(struct mb_mailfile *mf, const char *dir, struct mb_err *err)
{
	struct dirent **entries = NULL;
	int n = scandir(dir, &entries, skip_hidden, by_name), rc = 0;

	if (n < 0)
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot read directory: %s", dir,
		                  strerror(errno));
	for (int i = 0; i < n; i++) {
		char *path = rc ? NULL : join_path(dir, entries[i]->d_name);
		struct stat st;
		if (!rc && !path)
			rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		else if (!rc && stat(path, &st) == 0 && !S_ISREG(st.st_mode))
			free(path);
		else if (!rc && add_file(mf, path))
			rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		free(entries[i]);
	}
	free(entries);
	return rc;
}

/* A Maildir's messages are in cur/ and new/; tmp/ holds deliveries still being written. */
static int list_folder(struct mb_mailfile *mf, const char *path, struct mb_err *err)
{
	static const char *const maildir_parts[] = {"cur", "new"};
	char *parts[2] = {NULL, NULL};
	bool maildir = false;
	int rc = 0;

	for (size_t i = 0; i < 2; i++) {
		parts[i] = join_path(path, maildir_parts[i]);
		if (!parts[i])
			rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		else if (is_dir(parts[i]))
			maildir = true;
	}
	if (!rc && !maildir)
		rc = list_dir(mf, path, err);
	for (size_t i = 0; !rc && maildir && i < 2; i++)
		if (is_dir(parts[i]))
			rc = list_dir(mf, parts[i], err);
	free(parts[0]);
	free(parts[1]);
	return rc;
}

static void file_close(struct mb_mailfile *mf)
{
	if (mf->fd >= 0 && !mf->is_stdin)
		close(mf->fd);
	free(mf->file);
	mf->file = NULL;
	mf->fd = -1;
	mf->is_stdin = false;
	mf->in_pos = mf->in_len = 0;
}

/* Opens the next file of the list; state for a fresh file. */
static int file_start(struct mb_mailfile *mf, struct mb_err *err)
{
	struct stat st;

	mf->file = mf->files[mf->next_file];
	mf->files[mf->next_file++] = NULL;
	mf->done = mf->detected = mf->mbox = mf->eof = false;
	mf->message_open = mf->prev_blank = mf->oversize = false;
	mf->line_start = true;
	mf->number = 0;
	mf->blank_tail = 0;
	mf->in_pos = mf->in_len = 0;
	if (strcmp(mf->file, "-") == 0) {
		mf->fd = STDIN_FILENO;
		mf->is_stdin = true;
		return 0;
	}
	mf->fd = open(mf->file, O_RDONLY | O_CLOEXEC);
	if (mf->fd < 0)
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot open: %s", mf->file,
		                  strerror(errno));
	if (fstat(mf->fd, &st) == 0 && S_ISDIR(st.st_mode))
		return mb_err_set(err, MB_ENOINPUT, "%s: is a directory, expected a file",
		                  mf->file);
	return 0;
}

int mb_mailfile_open(struct mb_mailfile **out, const char *path,
                     const struct mb_mailfile_opts *opts, struct mb_err *err)
{
	struct mb_mailfile *mf;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (strcmp(path, "-") != 0 && stat(path, &st) != 0)
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
	mf = calloc(1, sizeof *mf);
	if (!mf || !(mf->in = malloc(INPUT_SIZE))) {
		free(mf);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	mf->fd = -1;
	mf->max_bytes =
	    opts && opts->max_message_bytes ? opts->max_message_bytes : MB_MAX_MESSAGE_BYTES;
	if (strcmp(path, "-") != 0 && S_ISDIR(st.st_mode)) {
		rc = list_folder(mf, path, err);
	} else if (add_file(mf, strdup(path))) {
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
	} else {
		/* a single file that cannot be opened is the caller's error, not one message's */
		rc = file_start(mf, err);
	}
	if (rc) {
		mb_mailfile_close(mf);
		return rc;
	}
	*out = mf;
	return 0;
}

void mb_mailfile_close(struct mb_mailfile *mf)
{
	if (!mf)
		return;
	file_close(mf);
	for (size_t i = 0; i < mf->n_files; i++)
		free(mf->files[i]);
	free(mf->files);
	free(mf->in);
	mb_buf_free(&mf->msg);
	free(mf);
}

/* ---- Reading ---------------------------------------------------------------------------- */

/* Reads more input after what is left; there is always room (see next_line). */
static int fill(struct mb_mailfile *mf, struct mb_err *err)
{
	ssize_t n;

	if (mf->in_pos > 0) {
		memmove(mf->in, mf->in + mf->in_pos, mf->in_len - mf->in_pos);
		mf->in_len -= mf->in_pos;
		mf->in_pos = 0;
	}
	n = read(mf->fd, mf->in + mf->in_len, INPUT_SIZE - mf->in_len);
	/* only a signal with a handler interrupts a read (a regular file's never is): the
	 * command's stop signals, so a wait on a pipe or FIFO ends here */
	if (n < 0 && errno == EINTR)
		return mb_err_set(err, MB_ETEMP, "%s: reading interrupted", mf->file);
	if (n < 0)
		return mb_err_set(err, MB_ENOINPUT, "%s: read error: %s", mf->file,
		                  strerror(errno));
	if (n == 0)
		mf->eof = true;
	mf->in_len += (size_t)n;
	return 0;
}

/* The next line with its line end (LF, CRLF or a lone CR), or a piece of LINE_LIMIT bytes of
 * a longer one (*whole false). Returns 1, 0 at the end of the file, or an error. The line
 * stays valid until the next call. */
static int next_line(struct mb_mailfile *mf, const char **line, size_t *len, bool *whole,
                     struct mb_err *err)
{
	for (;;) {
		const char *p = mf->in + mf->in_pos;
		size_t avail = mf->in_len - mf->in_pos;
		size_t window = avail < LINE_LIMIT ? avail : LINE_LIMIT, end = 0;
		bool need_more = false;
		int rc;

		for (size_t i = 0; i < window && !end && !need_more; i++) {
			if (p[i] == '\n')
				end = i + 1;
			else if (p[i] == '\r' && i + 1 < avail)
				end = p[i + 1] == '\n' ? i + 2 : i + 1;
			else if (p[i] == '\r' && mf->eof)
				end = i + 1;
			else if (p[i] == '\r')
				need_more = true; /* CR or CRLF: the next byte tells */
		}
		*whole = true;
		if (!end && !need_more && avail >= LINE_LIMIT) {
			end = LINE_LIMIT;
			*whole = false;
		} else if (!end && !need_more && mf->eof) {
			end = avail; /* the last line has no line end */
		}
		if (end) {
			*line = p;
			*len = end;
			mf->in_pos += end;
			return 1;
		}
		if (mf->eof)
			return 0;
		/* here avail <= LINE_LIMIT, so READ_CHUNK bytes of room are left */
		if ((rc = fill(mf, err)))
			return rc;
	}
}

static bool is_line_end(const char *line, size_t len)
{
	return (len == 1 && (line[0] == '\n' || line[0] == '\r')) ||
	       (len == 2 && line[0] == '\r' && line[1] == '\n');
}

/* "From " that is not an obsolete-syntax header field ("From : x"). */
static bool starts_from_(const char *line, size_t len)
{
	size_t i = 5;
	if (len < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i >= len || line[i] != ':';
}

/* A time of day ("07:04" in "From x Fri Dec  4 07:04:23 2026"). */
static bool has_time_of_day(const char *line, size_t len)
{
	for (size_t i = 1; i + 2 < len; i++)
		if (line[i] == ':' && isdigit((unsigned char)line[i - 1]) &&
		    isdigit((unsigned char)line[i + 1]) && isdigit((unsigned char)line[i + 2]))
			return true;
	return false;
}

static bool is_separator(const struct mb_mailfile *mf, const char *line, size_t len)
{
	return starts_from_(line, len) && (mf->prev_blank || has_time_of_day(line, len));
}

/* ">From ", ">>From ", ...: written escaped so that it is not taken for a From_ line. */
static bool is_escaped_from(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && line[i] == '>')
		i++;
	return i > 0 && len - i >= 5 && memcmp(line + i, "From ", 5) == 0;
}

/* Looks at the first bytes: an mbox starts with a From_ line, which is then consumed. */
static int detect(struct mb_mailfile *mf, struct mb_err *err)
{
	const char *line;
	size_t len;
	bool whole;
	int rc;

	mf->detected = true;
	while (mf->in_len < 5 && !mf->eof)
		if ((rc = fill(mf, err)))
			return rc;
	if (mf->in_len == 0)
		return mb_err_set(err, MB_EDATA, "%s: empty file, not a message", mf->file);
	if (!starts_from_(mf->in, mf->in_len))
		return 0;
	mf->mbox = true;
	if ((rc = next_line(mf, &line, &len, &whole, err)) < 0)
		return rc;
	mf->line_start = whole;
	mf->number = 1;
	mf->message_open = true;
	return 0;
}

static int read_single(struct mb_mailfile *mf, struct mb_mailfile_message *msg, struct mb_err *err)
{
	int rc;

	mb_buf_reset(&mf->msg);
	for (;;) {
		size_t avail = mf->in_len - mf->in_pos;
		if (avail > mf->max_bytes - mf->msg.len)
			return mb_err_set(err, MB_EDATA,
			                  "%s: larger than the limit of %zu bytes; skipped",
			                  mf->file, mf->max_bytes);
		if (mb_buf_append(&mf->msg, mf->in + mf->in_pos, avail))
			return mb_err_set(err, MB_ENOMEM, "%s: out of memory", mf->file);
		mf->in_pos = mf->in_len = 0;
		if (mf->eof)
			break;
		if ((rc = fill(mf, err)))
			return rc;
	}
	if (mb_buf_terminate(&mf->msg))
		return mb_err_set(err, MB_ENOMEM, "%s: out of memory", mf->file);
	msg->data = mf->msg.data;
	msg->len = mf->msg.len;
	return 1;
}

/* The message collected so far, without the empty line that separated it from the next. */
static int finish_message(struct mb_mailfile *mf, struct mb_mailfile_message *msg, size_t number,
                          struct mb_err *err)
{
	msg->number = number;
	if (mf->oversize)
		return mb_err_set(err, MB_EDATA,
		                  "%s#%zu: larger than the limit of %zu bytes; skipped", mf->file,
		                  number, mf->max_bytes);
	mf->msg.len -= mf->blank_tail;
	if (mb_buf_terminate(&mf->msg))
		return mb_err_set(err, MB_ENOMEM, "%s#%zu: out of memory", mf->file, number);
	mf->msg.data[mf->msg.len] = '\0';
	msg->data = mf->msg.data;
	msg->len = mf->msg.len;
	return 1;
}

static int append_line(struct mb_mailfile *mf, const char *line, size_t len, bool blank,
                       struct mb_err *err)
{
	if (mf->oversize)
		return 0;
	if (len > mf->max_bytes - mf->msg.len) {
		mf->oversize = true; /* the rest of it is read and dropped */
		return 0;
	}
	if (mb_buf_append(&mf->msg, line, len))
		return mb_err_set(err, MB_ENOMEM, "%s#%zu: out of memory", mf->file, mf->number);
	mf->blank_tail = blank ? len : 0;
	return 0;
}

static int read_mbox_message(struct mb_mailfile *mf, struct mb_mailfile_message *msg,
                             struct mb_err *err)
{
	size_t number = mf->number;

	mb_buf_reset(&mf->msg);
	mf->oversize = false;
	mf->blank_tail = 0;
	msg->number = number;
	for (;;) {
		const char *line;
		size_t len;
		bool whole, at_start = mf->line_start, blank;
		int rc = next_line(mf, &line, &len, &whole, err);

		if (rc < 0) {
			mf->done = true;
			return rc;
		}
		if (rc == 0) {
			mf->message_open = false;
			mf->done = true;
			return finish_message(mf, msg, number, err);
		}
		mf->line_start = whole;
		if (at_start && is_separator(mf, line, len)) {
			mf->number++;
			mf->prev_blank = false;
			return finish_message(mf, msg, number, err);
		}
		blank = at_start && is_line_end(line, len);
		if (at_start && is_escaped_from(line, len)) {
			line++;
			len--;
		}
		if ((rc = append_line(mf, line, len, blank, err))) {
			mf->done = true;
			return rc;
		}
		if (whole)
			mf->prev_blank = blank;
	}
}

int mb_mailfile_next(struct mb_mailfile *mf, struct mb_mailfile_message *msg, struct mb_err *err)
{
	int rc;

	memset(msg, 0, sizeof *msg);
	for (;;) {
		if (mf->file && mf->done)
			file_close(mf);
		if (!mf->file) {
			if (mf->next_file >= mf->n_files)
				return 0;
			if ((rc = file_start(mf, err))) {
				mf->done = true;
				msg->file = mf->file;
				msg->number = 1;
				return rc;
			}
		}
		msg->file = mf->file;
		if (!mf->detected && (rc = detect(mf, err))) {
			mf->done = true;
			msg->number = 1;
			return rc;
		}
		msg->in_mbox = mf->mbox;
		if (!mf->mbox) {
			mf->done = true;
			msg->number = 1;
			return read_single(mf, msg, err);
		}
		if (mf->message_open)
			return read_mbox_message(mf, msg, err);
		mf->done = true;
	}
}
