/*
 * pullgate import: an OCI image layout (directory or tar, as skopeo and
 * other OCI tools write it) or a "docker save" archive into the cache,
 * with no network. Everything is checked before anything enters the
 * cache: every blob against its digest (docker save layers against the
 * config's diff_ids), every manifest's references present. A corrupt or
 * truncated archive is refused whole. Imported tags are recorded under
 * the registry entry and pinned.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define IMPORT_ROOT_MAX		2048	/* so root + an archive name fit PATH_MAX */

struct import_blob {
	char		path[PATH_MAX];
	struct digest	digest;
	char		type[TAGINDEX_MEDIA_TYPE_MAX];	/* manifests only */
};

struct import_tag {
	char		repo[REFERENCE_NAME_MAX + 1];
	char		tag[REFERENCE_TAG_MAX + 1];
	struct digest	digest;
	char		type[TAGINDEX_MEDIA_TYPE_MAX];
};

struct import {
	struct cache		 cache;
	char			 root[IMPORT_ROOT_MAX];
	char			 staging[IMPORT_ROOT_MAX];
	const char		*as;
	struct import_blob	*blobs;
	size_t			 nblobs;
	struct import_tag	*tags;
	size_t			 ntags;
	char			*generated[64];	/* docker save: manifests we write */
	struct digest		 gen_digest[64];
	size_t			 ngenerated;
	struct progress		*progress;	/* while the archive is read */
	int			 item;		/* its entry in flight */
	int64_t			 read;		/* of the entries' data */
};

static void
import_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate import [-c FILE] [--cache DIR] [--registry NAME|ID]\n"
"                       [--as REPOSITORY:TAG] PATH\n"
"\n"
"Imports an OCI image layout (a directory, or a tar of one) or a 'docker\n"
"save' archive into the cache, with no network. Every blob is verified\n"
"before anything enters the cache; a corrupt or truncated archive is\n"
"refused whole. Tags come from the archive (or --as) and are recorded\n"
"under the registry entry (default: the default entry), and pinned.\n");
}

/* Hashes a file of the archive (never through a symlink); its size too. */
static int
import_hash(const char *path, struct digest *d, int64_t *size)
{
	int	fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	rc = hash_fd(fd, d, size);
	close(fd);
	return rc;
}

static int
import_add_blob(struct import *im, const char *path, const struct digest *d,
    const char *type)
{
	struct import_blob	*n;
	size_t			 i;

	for (i = 0; i < im->nblobs; i++)
		if (digest_equal(&im->blobs[i].digest, d))
			return 0;
	if ((n = reallocarray(im->blobs, im->nblobs + 1, sizeof *n)) == NULL)
		return -1;
	im->blobs = n;
	memset(&n[im->nblobs], 0, sizeof *n);
	util_strlcpy(n[im->nblobs].path, path, sizeof n[im->nblobs].path);
	n[im->nblobs].digest = *d;
	if (type != NULL)
		util_strlcpy(n[im->nblobs].type, type, sizeof n[im->nblobs].type);
	im->nblobs++;
	return 0;
}

/* Checks blobs/sha256/<hex> of the layout against its digest and size. */
static int
import_verify(struct import *im, const struct digest *d, int64_t want,
    const char *type, char **cause)
{
	char		path[PATH_MAX];
	struct digest	actual;
	int64_t		size;

	size_t		i;

	for (i = 0; i < im->nblobs; i++)
		if (digest_equal(&im->blobs[i].digest, d))
			return 0;
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", im->root, d->hex);
	if (import_hash(path, &actual, &size) != 0) {
		*cause = util_printf("sha256:%s is referenced but missing", d->hex);
		return -1;
	}
	if (!digest_equal(&actual, d)) {
		*cause = util_printf("sha256:%s does not match its content "
		    "(corrupt archive)", d->hex);
		return -1;
	}
	if (want >= 0 && size != want) {
		*cause = util_printf("sha256:%s has %lld bytes, not the %lld its "
		    "descriptor says", d->hex, (long long)size, (long long)want);
		return -1;
	}
	return import_add_blob(im, path, d, type);
}

static int
import_descriptor(json_t *v, struct digest *d, int64_t *size)
{
	const char	*ds = json_string_value(json_object_get(v, "digest"));

	if (ds == NULL || digest_parse(ds, d) != 0)
		return -1;
	*size = json_is_integer(json_object_get(v, "size")) ?
	    json_integer_value(json_object_get(v, "size")) : -1;
	return 0;
}

/* A manifest or index of the layout and everything it references. */
static int
import_manifest(struct import *im, const struct digest *d, int64_t size,
    const char *type, int depth, char **cause)
{
	char		 path[PATH_MAX];
	const char	*mt;
	json_t		*root, *list, *v;
	json_error_t	 err;
	struct digest	 child;
	int64_t		 csize;
	size_t		 i;
	int		 k, rc = -1;

	if (depth > 3) {
		*cause = util_printf("manifests nested too deep");
		return -1;
	}
	for (i = 0; i < im->nblobs; i++)
		if (digest_equal(&im->blobs[i].digest, d))
			return 0;	/* verified already: a shared child */
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", im->root, d->hex);
	if ((root = json_load_file(path, 0, &err)) == NULL) {
		*cause = util_printf("sha256:%s: missing or not a JSON manifest",
		    d->hex);
		return -1;
	}
	mt = json_string_value(json_object_get(root, "mediaType"));
	if (type == NULL || !mediatype_is_manifest(type))
		type = (mt != NULL && mediatype_is_manifest(mt)) ? mt :
		    mediatype_guess(json_object_get(root, "manifests") != NULL, 1);
	if (import_verify(im, d, size, type, cause) != 0)
		goto out;
	list = json_object_get(root, "manifests");
	json_array_foreach(list, i, v) {
		if (import_descriptor(v, &child, &csize) != 0 ||
		    import_manifest(im, &child, csize, json_string_value(
		    json_object_get(v, "mediaType")), depth + 1, cause) != 0) {
			if (*cause == NULL)
				*cause = util_printf("an index entry has no digest");
			goto out;
		}
	}
	for (k = 0; k < 2; k++) {
		list = (k == 0) ? json_array() : json_object_get(root, "layers");
		if (k == 0 && json_object_get(root, "config") != NULL)
			json_array_append(list, json_object_get(root, "config"));
		json_array_foreach(list, i, v) {
			if (import_descriptor(v, &child, &csize) != 0 ||
			    import_verify(im, &child, csize, NULL, cause) != 0) {
				if (*cause == NULL)
					*cause = util_printf("a descriptor has no digest");
				if (k == 0)
					json_decref(list);
				goto out;
			}
		}
		if (k == 0)
			json_decref(list);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* "[host/]repo:tag" into repo and tag (a registry host is dropped). */
static int
import_name(const char *ref, struct import_tag *t, char **cause)
{
	struct reference	 r;
	const char		*slash = strchr(ref, '/');

	if (slash != NULL && (memchr(ref, '.', (size_t)(slash - ref)) != NULL ||
	    memchr(ref, ':', (size_t)(slash - ref)) != NULL ||
	    strncmp(ref, "localhost/", 10) == 0))
		ref = slash + 1;
	if (strchr(ref, ':') == NULL) {
		*cause = util_printf("'%s' names no repository: give --as "
		    "REPOSITORY:TAG", ref);
		return -1;
	}
	if (reference_parse(ref, &r, cause) != 0)
		return -1;
	util_strlcpy(t->repo, r.name, sizeof t->repo);
	util_strlcpy(t->tag, r.tag, sizeof t->tag);
	return 0;
}

static int
import_add_tag(struct import *im, const char *ref, const struct digest *d,
    const char *type, char **cause)
{
	struct import_tag	*n, t;

	memset(&t, 0, sizeof t);
	if (import_name(im->as != NULL ? im->as : ref, &t, cause) != 0)
		return -1;
	t.digest = *d;
	util_strlcpy(t.type, type, sizeof t.type);
	if ((n = reallocarray(im->tags, im->ntags + 1, sizeof *n)) == NULL)
		return -1;
	im->tags = n;
	im->tags[im->ntags++] = t;
	return 0;
}

static int
import_oci(struct import *im, char **cause)
{
	char		 path[PATH_MAX];
	json_t		*index, *v, *ann;
	json_error_t	 err;
	struct digest	 d;
	int64_t		 size;
	size_t		 i, j;
	const char	*name, *type;
	int		 rc = -1;

	snprintf(path, sizeof path, "%s/index.json", im->root);
	if ((index = json_load_file(path, 0, &err)) == NULL) {
		*cause = util_printf("index.json: %s", err.text);
		return -1;
	}
	json_array_foreach(json_object_get(index, "manifests"), i, v) {
		if (import_descriptor(v, &d, &size) != 0) {
			*cause = util_printf("index.json: an entry has no digest");
			goto out;
		}
		type = json_string_value(json_object_get(v, "mediaType"));
		if (import_manifest(im, &d, size, type, 0, cause) != 0)
			goto out;
		ann = json_object_get(v, "annotations");
		name = json_string_value(json_object_get(ann,
		    "org.opencontainers.image.ref.name"));
		if (name == NULL && im->as == NULL)
			continue;	/* untagged: its blobs still come in */
		if (import_add_tag(im, name != NULL ? name : "", &d, "", cause) != 0)
			goto out;
		/* The manifest's own media type, as verified. */
		for (j = 0; j < im->nblobs; j++)
			if (digest_equal(&im->blobs[j].digest, &d))
				util_strlcpy(im->tags[im->ntags - 1].type,
				    im->blobs[j].type, sizeof im->tags[0].type);
	}
	if (im->nblobs == 0) {
		*cause = util_printf("index.json lists no image");
		goto out;
	}
	rc = 0;
out:
	json_decref(index);
	return rc;
}

static int	import_safe_name(char *);

/* A file of a docker save archive, named by its manifest.json. */
static int
import_docker_path(struct import *im, const char *name, char *path, size_t len)
{
	char	copy[256];

	if (name == NULL || util_strlcpy(copy, name, sizeof copy) != 0 ||
	    !import_safe_name(copy))
		return -1;
	snprintf(path, len, "%s/%s", im->root, copy);
	return 0;
}

/* A "docker save" archive: manifest.json, <config>.json, <layer>.tar. */
static int
import_docker(struct import *im, char **cause)
{
	char		 path[PATH_MAX];
	json_t		*list, *e, *config, *diff, *layers, *l, *m, *ml;
	json_error_t	 err;
	struct digest	 cd, ld, md;
	int64_t		 csize, lsize;
	size_t		 i, j;
	const char	*cf, *lf;
	char		*text;
	int		 rc = -1;

	snprintf(path, sizeof path, "%s/manifest.json", im->root);
	if ((list = json_load_file(path, 0, &err)) == NULL || !json_is_array(list)) {
		*cause = util_printf("manifest.json: not a docker save manifest");
		json_decref(list);
		return -1;
	}
	json_array_foreach(list, i, e) {
		cf = json_string_value(json_object_get(e, "Config"));
		layers = json_object_get(e, "Layers");
		if (import_docker_path(im, cf, path, sizeof path) != 0 ||
		    !json_is_array(layers) || im->ngenerated == 64) {
			*cause = util_printf("manifest.json: an entry without a valid "
			    "Config or Layers");
			goto out;
		}
		if (import_hash(path, &cd, &csize) != 0 ||
		    (config = json_load_file(path, 0, &err)) == NULL) {
			*cause = util_printf("%s: missing or not JSON", cf);
			goto out;
		}
		if (strstr(cf, cd.hex) == NULL) {
			*cause = util_printf("%s does not match its content (corrupt "
			    "archive)", cf);
			json_decref(config);
			goto out;
		}
		import_add_blob(im, path, &cd, NULL);
		diff = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
		if (json_array_size(diff) != json_array_size(layers)) {
			*cause = util_printf("%s: rootfs.diff_ids do not match the "
			    "layers", cf);
			json_decref(config);
			goto out;
		}
		ml = json_array();
		json_array_foreach(layers, j, l) {
			lf = json_string_value(l);
			if (import_docker_path(im, lf, path, sizeof path) != 0 ||
			    import_hash(path, &ld, &lsize) != 0) {
				*cause = util_printf("layer %s: missing", lf ? lf : "?");
				json_decref(ml);
				json_decref(config);
				goto out;
			}
			if (digest_parse(json_string_value(json_array_get(diff, j)) ?
			    json_string_value(json_array_get(diff, j)) : "", &md) != 0 ||
			    !digest_equal(&md, &ld)) {
				*cause = util_printf("layer %s does not match the config's "
				    "diff_id (corrupt archive)", lf);
				json_decref(ml);
				json_decref(config);
				goto out;
			}
			import_add_blob(im, path, &ld, NULL);
			json_array_append_new(ml, json_pack("{s:s, s:s+, s:I}",
			    "mediaType", "application/vnd.oci.image.layer.v1.tar",
			    "digest", "sha256:", ld.hex, "size", (json_int_t)lsize));
		}
		json_decref(config);
		m = json_pack("{s:i, s:s, s:{s:s, s:s+, s:I}, s:o}", "schemaVersion", 2,
		    "mediaType", MEDIATYPE_OCI_MANIFEST,
		    "config", "mediaType", "application/vnd.oci.image.config.v1+json",
		    "digest", "sha256:", cd.hex, "size", (json_int_t)csize,
		    "layers", ml);
		text = json_dumps(m, JSON_COMPACT);
		json_decref(m);
		if (text == NULL)
			goto out;
		hash_buffer(text, strlen(text), &md);
		im->generated[im->ngenerated] = text;
		im->gen_digest[im->ngenerated++] = md;
		if (json_array_size(json_object_get(e, "RepoTags")) == 0 &&
		    im->as != NULL && import_add_tag(im, "", &md,
		    MEDIATYPE_OCI_MANIFEST, cause) != 0)
			goto out;
		json_array_foreach(json_object_get(e, "RepoTags"), j, l)
			if (import_add_tag(im, json_string_value(l) ?
			    json_string_value(l) : "", &md,
			    MEDIATYPE_OCI_MANIFEST, cause) != 0)
				goto out;
	}
	rc = 0;
out:
	json_decref(list);
	return rc;
}

/* A safe relative name: [A-Za-z0-9._-] components, no "." or "..". */
static int
import_safe_name(char *name)
{
	char	*p, *c;
	int	 depth = 0;

	while (strncmp(name, "./", 2) == 0)
		memmove(name, name + 2, strlen(name + 2) + 1);
	if (name[0] == '\0' || name[0] == '/' || strlen(name) > 200)
		return 0;
	for (c = name; *c != '\0'; c = p) {
		size_t len = strcspn(c, "/");

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.') || ++depth > 4)
			return 0;
		for (p = c; p < c + len; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
			    *p == '-'))
				return 0;
		p = c + len;
		if (*p == '/')
			p++;
	}
	return 1;
}

/* Bytes of an entry copied out of the archive. */
static void
import_progress_cb(int64_t n, void *arg)
{
	struct import	*im = arg;

	im->read += n;
	progress_add(im->progress, im->item, n);
	progress_show(im->progress);
}

/* What progress calls an entry: a blob as docker shows it, else its name. */
static void
import_item_name(const char *entry, char *buf, size_t len)
{
	const char	*base = strrchr(entry, '/');

	if (strncmp(entry, "blobs/sha256/", 13) == 0)
		snprintf(buf, len, "sha256:%.12s", entry + 13);
	else
		util_strlcpy(buf, base != NULL && base[1] != '\0' ? base + 1 :
		    entry, len);	/* cut short: a label only */
}

/* Unpacks a tar into a staging directory inside the cache's tmp/. */
static int
import_unpack(struct import *im, const char *file, char **cause)
{
	struct tar_reader	 t;
	struct stat		 st;
	char			 path[PATH_MAX], dir[PATH_MAX], *slash;
	char			 title[PATH_MAX + 16], name[64];
	int64_t			 size;
	int			 fd, rc = -1, r;

	memset(&t, 0, sizeof t);
	if ((t.fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = util_printf("%s: %s", file, strerror(errno));
		return -1;
	}
	snprintf(title, sizeof title, "import %s", file);
	size = fstat(t.fd, &st) == 0 ? (int64_t)st.st_size : 0;
	im->progress = progress_new(title, size);
	im->item = -1;
	t.progress = import_progress_cb;
	t.progress_arg = im;
	snprintf(im->staging, sizeof im->staging, "%s/tmp/import.XXXXXX",
	    im->cache.dir);
	if (mkdtemp(im->staging) == NULL) {
		*cause = util_printf("%s: %s", im->staging, strerror(errno));
		im->staging[0] = '\0';
		goto out;
	}
	util_strlcpy(im->root, im->staging, sizeof im->root);
	while ((r = tar_next(&t, cause)) == 1) {
		if (!import_safe_name(t.name)) {
			*cause = util_printf("archive: refused the entry name '%.200s'",
			    t.name);
			goto out;
		}
		snprintf(path, sizeof path, "%s/%s", im->staging, t.name);
		if (t.type == '5') {
			if (util_mkdirs(path, 0700) != 0)
				goto out;
			continue;
		}
		util_strlcpy(dir, path, sizeof dir);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			util_mkdirs(dir, 0700);
		}
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0600)) == -1) {
			*cause = util_printf("%s: %s", path, strerror(errno));
			goto out;
		}
		import_item_name(t.name, name, sizeof name);
		im->item = progress_start(im->progress, name, t.size);
		r = tar_copy(&t, fd, cause);
		close(fd);
		progress_end(im->progress, im->item, r == 0);
		im->item = -1;
		if (r != 0)
			goto out;
	}
	rc = r;
	/* The archive's headers and padding: the rest of the file. */
	if (rc == 0 && size > im->read)
		progress_add(im->progress, -1, size - im->read);
out:
	progress_free(im->progress);
	im->progress = NULL;
	close(t.fd);
	return rc;
}

/* Copies a verified file into the store. */
static int
import_publish(struct import *im, const struct import_blob *b)
{
	char		tmp[PATH_MAX], buf[65536];
	ssize_t		n;
	int		in, out, rc = -1;

	if (cache_blob_exists(&im->cache, &b->digest))
		return 0;
	if ((in = open(b->path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((out = cache_tmp_create(&im->cache, &b->digest, tmp, sizeof tmp)) == -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	if (n == 0)
		rc = cache_publish(&im->cache, out, tmp, &b->digest);
	close(in);
	close(out);
	if (rc != 0)
		cache_discard(tmp);
	return rc;
}

static void
import_cleanup(struct import *im)
{
	size_t	i;

	if (im->staging[0] != '\0' && util_rmtree(im->staging) != 0)
		log_warn("cannot remove %s", im->staging);
	for (i = 0; i < im->ngenerated; i++)
		free(im->generated[i]);
	free(im->blobs);
	free(im->tags);
}

struct import_flags {
	const char	*which, *as;
};

static int
import_option(int ch, const char *arg, void *p, char **cause)
{
	struct import_flags	*f = p;

	if (ch == 'r')
		f->which = arg;
	else if (ch == 'a')
		f->as = arg;
	else
		return -1;
	return 0;
}

int
cmd_import_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "registry", required_argument, NULL, 'r' },
		{ "as", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct import_flags	 f = { NULL, NULL };
	const struct command	 cmd = { "pullgate import", import_usage,
	    COMMAND_CONFIG | COMMAND_CACHE, longopts, NULL, import_option, &f,
	    1, 1 };
	struct import		 im;
	struct config		 c;
	struct registry		*r;
	struct tagindex_entry	 e;
	struct stat		 st;
	const char		*which, *path;
	char			*cause = NULL, lp[PATH_MAX], type[TAGINDEX_MEDIA_TYPE_MAX];
	size_t			 i;
	int			 rc, first;

	memset(&im, 0, sizeof im);
	if ((first = command_begin(&cmd, argc, argv, &c, &rc)) == -1)
		return rc;
	rc = 1;
	path = argv[first];
	which = f.which;
	im.as = f.as;
	r = registry_default(&c.registries);
	if (which != NULL) {
		r = registry_lookup(&c.registries, which);
		if (r == NULL) {
			fprintf(stderr, "pullgate import: no registry '%s'\n", which);
			goto out;
		}
	}
	if (cache_open(&im.cache, c.cache_dir, 0, &cause) != 0)
		goto fail;
	if (stat(path, &st) != 0) {
		cause = util_printf("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		if (realpath(path, lp) == NULL)
			goto fail;
		util_strlcpy(im.root, lp, sizeof im.root);
	} else if (import_unpack(&im, path, &cause) != 0)
		goto fail;
	snprintf(lp, sizeof lp, "%s/index.json", im.root);
	if (access(lp, F_OK) == 0) {
		if (import_oci(&im, &cause) != 0)
			goto fail;
	} else {
		snprintf(lp, sizeof lp, "%s/manifest.json", im.root);
		if (access(lp, F_OK) != 0) {
			cause = util_printf("%s is neither an OCI image layout nor a "
			    "docker save archive", path);
			goto fail;
		}
		if (import_docker(&im, &cause) != 0)
			goto fail;
	}
	if (im.as != NULL && im.ntags > 1) {
		cause = util_printf("--as names one image, the archive holds %zu",
		    im.ntags);
		goto fail;
	}
	for (i = 0; i < im.ntags; i++) {
		if (registry_upstream_name(r, im.tags[i].repo, im.tags[i].repo,
		    sizeof im.tags[i].repo) != 0) {
			cause = util_printf("%s: name too long", im.tags[i].repo);
			goto fail;
		}
	}
	/* Everything checked: now into the cache. */
	for (i = 0; i < im.nblobs; i++) {
		/* A manifest's media type goes first: never a manifest without. */
		if (im.blobs[i].type[0] != '\0' &&
		    cache_manifest_type_get(&im.cache, &im.blobs[i].digest, type,
		    sizeof type) != 0)
			cache_manifest_type_set(&im.cache, &im.blobs[i].digest,
			    im.blobs[i].type);
		if (import_publish(&im, &im.blobs[i]) != 0) {
			cause = util_printf("cannot store sha256:%s in the cache",
			    im.blobs[i].digest.hex);
			goto fail;
		}
	}
	for (i = 0; i < im.ngenerated; i++) {
		if (cache_put_manifest(&im.cache, &im.gen_digest[i],
		    im.generated[i], strlen(im.generated[i]),
		    MEDIATYPE_OCI_MANIFEST) != 0) {
			cause = util_printf("cannot store a manifest in the cache");
			goto fail;
		}
	}
	for (i = 0; i < im.ntags; i++) {
		char dstr[DIGEST_STRING_LEN + 1];

		memset(&e, 0, sizeof e);
		e.digest = im.tags[i].digest;
		util_strlcpy(e.media_type, im.tags[i].type, sizeof e.media_type);
		e.checked = time(NULL);
		if (tagindex_put(&im.cache, r->name, im.tags[i].repo, im.tags[i].tag,
		    &e) != 0 || tagindex_put_in(&im.cache, TAGINDEX_PINS, r->name,
		    im.tags[i].repo, im.tags[i].tag, &e) != 0) {
			cause = util_printf("cannot record the tag");
			goto fail;
		}
		digest_format(&e.digest, dstr, sizeof dstr);
		printf("%s/%s:%s %s imported, pinned\n", r->name, im.tags[i].repo,
		    im.tags[i].tag, dstr);
	}
	printf("import: %zu blob(s) verified and stored, %zu tag(s)\n",
	    im.nblobs + im.ngenerated, im.ntags);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "pullgate import: %s: refused, the cache is unchanged: %s\n",
	    path, cause != NULL ? cause : strerror(errno));
	free(cause);
out:
	import_cleanup(&im);
	config_free(&c);
	return rc;
}
