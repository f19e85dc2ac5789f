package mta

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PSS is the proportional set size of process pid in KiB, from
// /proc/PID/smaps_rollup (Linux 4.14+): shared pages count divided by the
// number of processes mapping them, so that the PSS of a set of
// processes adds up to the memory they use.
func PSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParsePSS(f)
}

// ParsePSS reads the "Pss:" line of an smaps_rollup ("Pss:  1234 kB").
func ParsePSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "Pss:" && f[2] == "kB" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("smaps_rollup: no Pss line")
}

// SumPSS adds the PSS of the processes; one that has exited meanwhile
// counts nothing.
func SumPSS(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		if kb, err := PSS(p); err == nil {
			sum += kb
		}
	}
	return sum
}

// Children are the processes whose parent is ppid and whose command
// name (comm) is one of names (any name when there are none).
func Children(ppid int, names ...string) []int {
	var pids []int
	for pid := range children(ppid) {
		pids = append(pids, pid)
	}
	return slices.DeleteFunc(pids, func(pid int) bool { return len(names) > 0 && !slices.Contains(names, comm(pid)) })
}

// children maps the processes whose parent is ppid to their names.
func children(ppid int) map[int]string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	kids := map[int]string{}
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		if pid, comm, parent, ok := ParseStat(string(b)); ok && parent == ppid {
			kids[pid] = comm
		}
	}
	return kids
}

// comm is the name of process pid ("" when it has gone).
func comm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	_, name, _, _ := ParseStat(string(b))
	return name
}

// reap waits until the processes (pid to name) have exited, and after
// grace kills those still there: a Dovecot mail process busy with a
// client outlives its master, and would write into a directory being
// removed.
func reap(procs map[int]string, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for len(procs) > 0 {
		for pid, name := range procs {
			if comm(pid) != name {
				delete(procs, pid)
			} else if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ParseStat reads the pid, command name and parent pid of a /proc/PID/stat
// line ("123 (imap-login) S 45 ..."); the name may hold spaces and
// parentheses, so it ends at the last ')'.
func ParseStat(s string) (pid int, comm string, ppid int, ok bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 1 || end < open {
		return 0, "", 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	f := strings.Fields(s[end+1:])
	if err != nil || len(f) < 2 {
		return 0, "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return pid, s[open+1 : end], ppid, err == nil
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// Linux whatever the kernel's HZ).
const clockTick = 10 * time.Millisecond

// CPUTime is the CPU time (user + system) processes pid have used, from
// /proc/PID/stat (10 ms resolution); one that has exited counts nothing.
func CPUTime(pids []int) time.Duration {
	var sum time.Duration
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		sum += ParseStatCPU(string(b))
	}
	return sum
}

// ParseStatCPU reads utime + stime (fields 14 and 15) of a /proc/PID/stat
// line; the fields are counted after the command name's last ')'.
func ParseStatCPU(s string) time.Duration {
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * clockTick
}
