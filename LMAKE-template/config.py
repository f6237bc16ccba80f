# dircache cache configuration (format 2), written by `dircache init`. Read by every client at start-up.
# Python syntax, one `name = value` per line: numbers (1 << 30, 1.5 * 1024**4) or quoted strings.
# A mistake here stops every client with a message naming this file and line.

# size (required, no default): total bytes the cache may hold. An int is bytes; a string takes a unit
# k, M, G or T (powers of 1024), e.g. '500G' or '1.5T'. Clients cannot override it.
size = '{{size}}'

# perm (default 'none'): 'none' follows each user's umask; 'group' or 'other' gives every file and dir
# the cache creates group (or group and other) read-write whatever the umask. Clients may override it.
perm = '{{perm}}'

# file_sync (default 'dir'): 'none' trusts the filesystem; 'dir' opens the enclosing dir before reading
# what another client wrote and after writing (NFS close-to-open consistency for dir contents);
# 'sync' fsyncs files and their dirs after each change. Clients may override it.
file_sync = '{{file_sync}}'

# lock_stale (default 30): seconds a shard lock may stay unchanged before a waiter breaks it. Keep it
# above the NFS attribute cache time of every client (mount option actimeo), or live locks get broken.
# A number of seconds or a duration string such as '45s' or '2m'.
lock_stale = {{lock_stale}}

# lock_timeout (default 120): seconds a client waits for a shard lock before failing with an error
# naming the holder. A number of seconds or a duration string such as '2m'.
lock_timeout = {{lock_timeout}}
