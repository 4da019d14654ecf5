/*
 * pullgate export: cached images (every cached platform) as one OCI image
 * layout tar, which 'pullgate import' and skopeo (oci-archive:) read.
 * Each tag is named "<repository>:<tag>" in index.json, with the registry
 * entry in an annotation. The archive appears only when it is complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

struct export {
	const struct cache	*cache;
	struct digest_set	 blobs;
	int			 missing;
};

static void
export_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate export [-c FILE] [--cache DIR] -o FILE IMAGE...\n"
"\n"
"Writes the cached images ([ENTRY/]REPOSITORY[:TAG]), with every platform\n"
"that is cached, as an OCI image layout tar: 'pullgate import FILE' on\n"
"another gateway, or skopeo copy oci-archive:FILE:REPOSITORY:TAG ...\n");
}

static int
export_collect_cb(const struct digest *d, int64_t size, int is_manifest,
    int present, void *arg)
{
	struct export	*x = arg;

	(void)size;
	(void)is_manifest;
	if (!present) {
		x->missing++;
		return 0;
	}
	if (digest_set_contains(&x->blobs, d))
		return 0;	/* shared by two images */
	return digest_set_add(&x->blobs, d);
}

/* Writes blob d into the archive, one item of progress pg. */
static int
export_blob(int out, const struct cache *c, const struct digest *d,
    struct progress *pg, char **cause)
{
	char	name[100];
	off_t	size;
	int	fd, rc, item;

	if ((fd = cache_blob_open(c, d, &size)) == -1) {
		*cause = util_printf("sha256:%s vanished from the cache", d->hex);
		return -1;
	}
	snprintf(name, sizeof name, "sha256:%.12s", d->hex);
	item = progress_start(pg, name, size);
	progress_show(pg);
	snprintf(name, sizeof name, "blobs/sha256/%s", d->hex);
	rc = tar_write_file(out, name, fd, size, cause);
	close(fd);
	if (rc == 0)
		progress_add(pg, item, size);
	progress_end(pg, item, rc == 0);
	progress_show(pg);
	return rc;
}

/* The bytes of the blobs to write: the total progress shows. */
static int64_t
export_total(const struct cache *c, const struct digest_set *blobs)
{
	char		path[PATH_MAX];
	struct stat	st;
	int64_t		total = 0;
	size_t		i;

	for (i = 0; i < blobs->n; i++)
		if (cache_blob_path(c, &blobs->v[i], path, sizeof path) == 0 &&
		    stat(path, &st) == 0)
			total += st.st_size;
	return total;
}

static int
export_text(int out, const char *name, const char *text, char **cause)
{
	char	tmpl[] = "/tmp/pullgate-export.XXXXXX";
	int	fd, rc;

	if ((fd = mkstemp(tmpl)) == -1) {
		*cause = util_printf("cannot write a temporary file");
		return -1;
	}
	unlink(tmpl);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		*cause = util_printf("cannot write a temporary file");
		return -1;
	}
	rc = tar_write_file(out, name, fd, (int64_t)strlen(text), cause);
	close(fd);
	return rc;
}

static int
export_option(int ch, const char *arg, void *p, char **cause)
{
	if (ch != 'o')
		return -1;
	*(const char **)p = arg;
	return 0;
}

int
cmd_export_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*outpath = NULL;
	const struct command	 cmd = { "pullgate export", export_usage,
	    COMMAND_CONFIG | COMMAND_CACHE, longopts, "o:", export_option,
	    &outpath, 1, -1 };
	struct registry		*r;
	struct tagindex_entry	 e;
	struct reference	 ref;
	struct export		 x;
	struct config		 c;
	struct cache		 cache;
	struct stat		 st;
	json_t			*index, *list;
	char			*cause = NULL, *text = NULL, tmp[PATH_MAX];
	char			 refname[REFERENCE_NAME_MAX + REFERENCE_TAG_MAX + 2];
	char			 dstr[DIGEST_STRING_LEN + 1];
	char			 title[PATH_MAX + 16];
	struct progress		*pg;
	size_t			 i;
	int			 out = -1, rc, first;

	if ((first = command_begin(&cmd, argc, argv, &c, &rc)) == -1)
		return rc;
	if (outpath == NULL) {
		export_usage(stderr);
		config_free(&c);
		return 2;
	}
	rc = 1;
	util_strlcpy(cache.dir, c.cache_dir, sizeof cache.dir);
	memset(&x, 0, sizeof x);
	x.cache = &cache;
	list = json_array();
	for (i = (size_t)first; i < (size_t)argc; i++) {
		if (imageref_parse(&c, argv[i], &r, &ref, &cause) != 0)
			goto fail;
		if (ref.tag[0] == '\0') {
			cause = util_printf("%s: name a tag", argv[i]);
			goto fail;
		}
		if (tagindex_get(&cache, r->name, ref.name, ref.tag, &e) != 0) {
			cause = util_printf("%s: not in the cache", argv[i]);
			goto fail;
		}
		x.missing = 0;
		image_walk(&cache, &e.digest, export_collect_cb, &x);
		if (x.missing > 0)
			fprintf(stderr, "pullgate export: %s: %d blob(s) are not "
			    "cached (platforms never pulled); the archive lists them "
			    "but cannot hold them\n", argv[i], x.missing);
		digest_format(&e.digest, dstr, sizeof dstr);
		snprintf(refname, sizeof refname, "%s:%s", ref.name, ref.tag);
		if (stat(cache.dir, &st) != 0)
			goto fail;
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, "
		    "s:{s:s, s:s}}", "mediaType", e.media_type, "digest", dstr,
		    "size", (json_int_t)0, "annotations",
		    "org.opencontainers.image.ref.name", refname,
		    "io.pullgate.registry", r->name));
		{
			char	path[PATH_MAX];

			if (cache_blob_path(&cache, &e.digest, path, sizeof path) == 0 &&
			    stat(path, &st) == 0)
				json_object_set_new(json_array_get(list,
				    json_array_size(list) - 1), "size",
				    json_integer(st.st_size));
		}
	}
	index = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
	    "application/vnd.oci.image.index.v1+json", "manifests", list);
	list = NULL;
	text = json_dumps(index, JSON_INDENT(2));
	json_decref(index);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", outpath, (long)getpid());
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644)) == -1) {
		cause = util_printf("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (export_text(out, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}",
	    &cause) != 0 || export_text(out, "index.json", text, &cause) != 0)
		goto fail;
	snprintf(title, sizeof title, "export %s", outpath);
	pg = progress_new(title, export_total(&cache, &x.blobs));
	progress_set_count(pg, x.blobs.n);
	for (i = 0; i < x.blobs.n; i++)
		if (export_blob(out, &cache, &x.blobs.v[i], pg, &cause) != 0)
			break;
	progress_free(pg);
	if (i < x.blobs.n)
		goto fail;
	if (tar_write_end(out, &cause) != 0)
		goto fail;
	if (fsync(out) != 0 || close(out) != 0) {
		out = -1;
		cause = util_printf("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	out = -1;
	if (rename(tmp, outpath) != 0) {
		cause = util_printf("%s: %s", outpath, strerror(errno));
		goto fail;
	}
	printf("export: %d image(s), %zu blob(s) to %s\n", argc - first,
	    x.blobs.n, outpath);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "pullgate export: %s\n", cause != NULL ? cause : "failed");
	if (out != -1) {
		close(out);
		unlink(tmp);
	}
out:
	free(cause);
	free(text);
	json_decref(list);
	digest_set_free(&x.blobs);
	config_free(&c);
	return rc;
}
