# pid.sh - signalling a test's own background processes safely (POSIX sh,
# sourced; tests/lib/hub.sh sources it).
#
# dash reaps a finished background child at the script's next foreground
# command, so its PID is free from then on, and with tests running side by
# side the kernel hands PIDs out again within minutes (pid_max is 32768 here
# and in CI; threads take them too).  A signal sent to a kept PID after its
# process ended can hit another test's hub, server or client: an exit trap,
# or a stop after a long wait, signals through these instead of plain kill.

# pid_ours PID: PID is still a child of this shell (running, or ended and
# not yet reaped).
pid_ours() {
	[ -n "$1" ] && [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]
}

# pid_signal SIG PID...: sends SIG to each PID that is still ours; a stale
# or empty one is skipped.  Returns 0.
pid_signal() {
	pid_sig=$1
	shift
	for pid_p in "$@"; do
		pid_ours "$pid_p" && kill -"$pid_sig" "$pid_p" 2>/dev/null
	done
	return 0
}

# pid_wait PID SECONDS: waits at most SECONDS for our child PID to end and
# returns its exit status, as `wait` does; 124 (and PID left running) if it
# still runs then.  Polls pid_ours, not kill -0: an ended child is reaped
# at the next foreground command, and its PID may then be another's.
pid_wait() {
	pid_i=0
	while pid_ours "$1"; do
		[ $pid_i -lt $(($2 * 10)) ] || return 124
		pid_i=$((pid_i + 1))
		sleep 0.1
	done
	wait "$1"
}

# pid_stop SIG PID SECONDS: sends SIG to our child PID (none if it ended
# already) and waits for it as pid_wait does: its exit status, 124 if it
# still runs SECONDS later.
pid_stop() {
	pid_signal "$1" "$2"
	pid_wait "$2" "$3"
}
