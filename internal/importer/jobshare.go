package importer

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/youju/youju/internal/store"
)

// Import progress shared by the nodes of a cluster: with Jobs.State (a
// shared store's store.StateStore) a job writes its JobStatus under its
// lease's key, import/ACCOUNT, so that the settings page and the admin
// console of any node show it. A running job's entry expires
// jobStatusTTL after its last write, so the entry of a node that died
// mid-import does not say "running" for ever; a finished one stays
// jobDoneTTL.

const (
	jobStatusTTL   = 2 * jobLeaseTTL // renewed with the lease
	jobDoneTTL     = 7 * 24 * time.Hour
	jobStatusEvery = time.Second // at most one progress write a second
)

// jobKey is the key of acct's import: its lease and its shared status.
func jobKey(acct store.AccountID) string { return "import/" + strconv.FormatInt(int64(acct), 10) }

// share writes st to the shared state (nothing without one). Best
// effort: progress lost to a store error is only progress.
func (j *Jobs) share(acct store.AccountID, st JobStatus) {
	if j.State == nil {
		return
	}
	ttl := jobStatusTTL
	if st.State != "running" {
		ttl = jobDoneTTL
	}
	if d := time.Since(st.Started).Seconds(); d > 0 {
		st.Rate = float64(st.Read) / d
	}
	b, err := json.Marshal(st)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = j.State.PutState(ctx, jobKey(acct), b, -1, ttl)
	}
	if err != nil {
		j.log().Warn("import: progress not shared", "account", st.Account, "err", err)
	}
}

// sharedStatus reads acct's job from the shared state; ok is false
// without one (or on an error: the caller falls back to its own).
func (j *Jobs) sharedStatus(acct store.AccountID) (st JobStatus, ok bool) {
	if j.State == nil {
		return st, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := j.State.GetState(ctx, jobKey(acct))
	e, found := m[jobKey(acct)]
	if err != nil || !found || json.Unmarshal(e.Value, &st) != nil {
		return JobStatus{}, false
	}
	return st, true
}

// progress records new stats: in memory at once, in the shared state at
// most every jobStatusEvery (and always when force).
func (j *Jobs) progress(acct store.AccountID, f func(*JobStatus), force bool) JobStatus {
	j.mu.Lock()
	st := j.jobs[acct]
	f(st)
	now := time.Now()
	write := force || now.Sub(j.shared[acct]) >= jobStatusEvery
	if write {
		if j.shared == nil {
			j.shared = map[store.AccountID]time.Time{}
		}
		j.shared[acct] = now
	}
	out := *st
	j.mu.Unlock()
	if write {
		j.share(acct, out)
	}
	return out
}
