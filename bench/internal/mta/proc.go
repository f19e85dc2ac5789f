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
// name (comm) is one of names.
func Children(ppid int, names ...string) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		pid, comm, parent, ok := ParseStat(string(b))
		if ok && parent == ppid && slices.Contains(names, comm) {
			pids = append(pids, pid)
		}
	}
	return pids
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
