#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# purity.sh CORE_LIB SOURCE_DIR CC [LIB...]: fails when the decision core is
# not pure. Three checks:
#  1. no object of CORE_LIB (libfaultline_core.a) references a symbol of
#     the outside world: a socket, the clock, a stdio file, a print, exit,
#     process or thread control, the environment, global random state;
#  2. every symbol it references is defined in the library itself, the C
#     library, libm, the compiler's runtime (sanitizers included) or a LIB
#     given (libpcap): the core has no other dependency;
#  3. no file of proxy/core, rules or proxy/decide includes a header of a
#     higher layer (core < rules < decide), by any path: a relative
#     "../live/x.h" is found by the compiler even where -iquote is not set.
# (rules/file.c reads rule files: it is built into faultline_rulefile, not
# the core, and is skipped here.)
set -euo pipefail
lib=$1 top=$2 cc=$3
shift 3
fail=0

# 1. The outside world, by name.
deny=(
	socket socketpair connect bind listen accept accept4 shutdown setsockopt getsockopt
	send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg
	poll ppoll select pselect epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait
	clock_gettime clock_getres gettimeofday time clock timespec_get ftime
	nanosleep clock_nanosleep sleep usleep timerfd_create timerfd_settime
	fopen fopen64 fdopen freopen freopen64 fclose fflush fileno setvbuf tmpfile tmpfile64
	open_memstream fmemopen popen pclose
	fread fread_unlocked fwrite fwrite_unlocked fgets fgetc getc getchar getline getdelim
	fscanf scanf vfscanf vscanf __isoc99_fscanf __isoc99_scanf fseek fseeko ftell ftello rewind
	fputs fputs_unlocked fputc fputc_unlocked putc putc_unlocked putchar puts
	printf fprintf vprintf vfprintf dprintf vdprintf
	__printf_chk __fprintf_chk __vprintf_chk __vfprintf_chk __dprintf_chk __vdprintf_chk
	__fread_chk __fgets_chk __getdelim
	perror psignal psiginfo err errx verr verrx warn warnx vwarn vwarnx error error_at_line
	syslog vsyslog openlog
	stdin stdout stderr
	open open64 openat openat64 creat creat64 close read write pread pread64 pwrite pwrite64
	readv writev preadv pwritev lseek lseek64 ioctl fcntl fcntl64 dup dup2 dup3 pipe pipe2
	unlink unlinkat rename renameat mkdir rmdir ftruncate truncate fsync fdatasync
	stat stat64 fstat fstat64 lstat lstat64 fstatat __xstat __fxstat __lxstat
	exit _exit _Exit quick_exit atexit at_quick_exit on_exit abort __assert_fail raise kill
	fork vfork execve execv execvp execl execlp system posix_spawn posix_spawnp
	pthread_create pthread_join pthread_detach pthread_kill
	signal sigaction
	getenv secure_getenv setenv unsetenv putenv
	rand srand random srandom drand48 lrand48 mrand48 srand48
)
printf '%s\n' "${deny[@]}" | sort -u >"${TMPDIR:-/tmp}/purity.deny.$$"
trap 'rm -f "${TMPDIR:-/tmp}"/purity.*.$$' EXIT
# "lib.a:member.o: U sym" for every undefined reference of every object.
nm -A -u "$lib" | awk '{ sub(/:$/, "", $1); n = split($1, p, ":"); print p[n], $NF }' |
	sort -k2 >"${TMPDIR:-/tmp}/purity.undef.$$"
if ! [ -s "${TMPDIR:-/tmp}/purity.undef.$$" ]; then
	echo "purity: no undefined symbols in $lib: not the library expected" >&2
	exit 1
fi
bad=$(join -1 2 -2 1 -o 1.1,1.2 "${TMPDIR:-/tmp}/purity.undef.$$" "${TMPDIR:-/tmp}/purity.deny.$$" || true)
if [ -n "$bad" ]; then
	echo "purity: the core references the outside world (object: symbol):" >&2
	echo "$bad" | sed 's/^/  /' >&2
	fail=1
fi

# 2. Nothing but the library, libc, libm, the compiler runtime and LIB...
defined() {
	[ -f "$1" ] || return 0
	nm -D --defined-only "$1" 2>/dev/null | awk '{ sub(/@.*/, "", $NF); print $NF }'
	nm --defined-only "$1" 2>/dev/null | awk 'NF >= 3 { print $NF }'
}
{
	nm -A --defined-only "$lib" | awk '{ print $NF }'
	for f in libc.so.6 libc_nonshared.a libm.so.6; do
		defined "$("$cc" -print-file-name=$f)"
	done
	defined "$("$cc" -print-libgcc-file-name)"
	for f in "$@"; do
		defined "$f"
	done
} | sort -u >"${TMPDIR:-/tmp}/purity.known.$$"
alien=$(awk '{ print $2, $1 }' "${TMPDIR:-/tmp}/purity.undef.$$" | sort |
	join -v 1 - "${TMPDIR:-/tmp}/purity.known.$$" |
	grep -Ev '^(__asan_|__ubsan_|__lsan_|__sanitizer_|__sancov_|__start___sancov|__stop___sancov|__llvm_|__gcov_|__stack_chk_fail|_GLOBAL_OFFSET_TABLE_|__dso_handle|__tls_get_addr)' || true)
if [ -n "$alien" ]; then
	echo "purity: the core uses symbols of no allowed library (libc, libm, libpcap) (symbol object):" >&2
	echo "$alien" | sed 's/^/  /' >&2
	fail=1
fi

# 3. Includes run one way: proxy/core <- rules <- proxy/decide.
top=$(realpath "$top")
check_includes() {
	local folder=$1
	shift
	local f inc found d ok allowed
	for f in "$top/$folder"/*.[ch]; do
		[ "$f" = "$top/rules/file.c" ] && continue
		while read -r inc; do
			found=
			for d in "$top/$folder" "${@/#/$top/}"; do
				if [ -f "$d/$inc" ]; then
					found=$(realpath "$d/$inc")
					break
				fi
			done
			# Not in any allowed folder: maybe a header of a higher layer.
			if [ -z "$found" ]; then
				for d in "$top"/proxy/* "$top"/cli "$top"/rules; do
					[ -f "$d/$inc" ] && found=$(realpath "$d/$inc") && break
				done
			fi
			[ -n "$found" ] || continue	# a system header in quotes: not ours
			ok=0
			for allowed in "$@"; do
				[ "${found%/*}" = "$top/$allowed" ] && ok=1
			done
			if [ $ok = 0 ]; then
				echo "purity: ${f#"$top"/} includes \"$inc\" (${found#"$top"/}), above its layer" >&2
				fail=1
			fi
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
}
check_includes proxy/core proxy/core
check_includes rules proxy/core rules
check_includes proxy/decide proxy/core rules proxy/decide

[ $fail = 0 ] && echo "purity: $(wc -l <"${TMPDIR:-/tmp}/purity.undef.$$") references checked, includes one way"
exit $fail
