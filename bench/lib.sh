# SPDX-License-Identifier: MIT
# Shell functions that bench/run.sh and bench/profile.sh share (sourced).

# CPU time (ns) the kernel's softirq threads have used so far, all CPUs:
# softirq work runs there when it overflows the context that raised it.
ksoftirqd_ns()
{
	local p sum=0 ns

	for p in $(pgrep -x 'ksoftirqd/[0-9]+'); do
		read -r ns _ <"/proc/$p/schedstat" 2>/dev/null || continue
		sum=$((sum + ns))
	done
	echo "$sum"
}
