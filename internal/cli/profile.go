package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"syscall"
)

// cpuProfileEnv names a file that youju serve writes a CPU profile to
// for its whole run (go tool pprof reads it). Unset, the default, no
// profile is taken. An environment variable rather than a flag: it is a
// developer's tool for the benchmarks (bench/compare passes it through),
// not a setting of the server.
const cpuProfileEnv = "YOUJU_CPUPROFILE"

// profileDirEnv names a directory where youju serve writes profiles of a
// window of its run, opened and closed by SIGUSR1: a CPU profile
// (cpu.prof), an execution trace (trace.out) and, at the close, the
// block and mutex profiles of the window (block.prof, mutex.prof). A
// whole-run profile mixes a burst with the background work after it
// (the text indexer catching up); the window shows what runs during
// the burst. The allocations are written at both ends (allocs-open.prof,
// allocs.prof: cumulative, so `go tool pprof -sample_index=alloc_space
// -base allocs-open.prof allocs.prof` shows the window's). Each window
// overwrites the previous one's files.
const profileDirEnv = "YOUJU_PROFILE_DIR"

// startCPUProfile starts the profile asked for by YOUJU_CPUPROFILE, or
// the SIGUSR1 windows asked for by YOUJU_PROFILE_DIR, and returns the
// function that ends them (a no-op when none is asked for).
func startCPUProfile() (stop func(), err error) {
	if dir := os.Getenv(profileDirEnv); dir != "" {
		return startProfileWindows(dir)
	}
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

// profileWindow is the state of the SIGUSR1 windows: open or closed.
type profileWindow struct {
	dir        string
	mu         sync.Mutex
	cpu, trace *os.File // nil while closed
}

func startProfileWindows(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", profileDirEnv, err)
	}
	w := &profileWindow{dir: dir}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				if err := w.toggle(); err != nil {
					fmt.Fprintln(os.Stderr, "youju:", profileDirEnv+":", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.cpu != nil {
			w.close()
		}
	}, nil
}

// toggle opens a closed window or closes an open one.
func (w *profileWindow) toggle() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cpu != nil {
		return w.close()
	}
	cpu, err := os.Create(filepath.Join(w.dir, "cpu.prof"))
	if err != nil {
		return err
	}
	tr, err := os.Create(filepath.Join(w.dir, "trace.out"))
	if err != nil {
		cpu.Close()
		return err
	}
	if err := writeProfile(filepath.Join(w.dir, "allocs-open.prof"), "allocs"); err != nil {
		cpu.Close()
		tr.Close()
		return err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		tr.Close()
		return err
	}
	if err := trace.Start(tr); err != nil {
		pprof.StopCPUProfile()
		cpu.Close()
		tr.Close()
		return err
	}
	// Block and mutex profiles count from now: the window's waits only
	// (the profiles are cumulative, so the rates are reset at the close).
	runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
	runtime.SetMutexProfileFraction(10)
	w.cpu, w.trace = cpu, tr
	return nil
}

// close ends the window and writes its block and mutex profiles.
func (w *profileWindow) close() error {
	pprof.StopCPUProfile()
	trace.Stop()
	errs := []error{w.cpu.Close(), w.trace.Close()}
	for _, name := range []string{"block", "mutex", "allocs"} {
		errs = append(errs, writeProfile(filepath.Join(w.dir, name+".prof"), name))
	}
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(0)
	w.cpu, w.trace = nil, nil
	return errors.Join(errs...)
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup(name).WriteTo(f, 0)
	return errors.Join(err, f.Close())
}
