package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names a file that youju serve writes a CPU profile to
// for its whole run (go tool pprof reads it). Unset, the default, no
// profile is taken. An environment variable rather than a flag: it is a
// developer's tool for the benchmarks (bench/compare passes it through),
// not a setting of the server.
const cpuProfileEnv = "YOUJU_CPUPROFILE"

// startCPUProfile starts the profile asked for by YOUJU_CPUPROFILE and
// returns the function that ends it (a no-op when none is asked for).
func startCPUProfile() (stop func(), err error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
