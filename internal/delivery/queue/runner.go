package queue

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// domainsInParallel bounds the domains one message is sent to at once.
const domainsInParallel = 8

// run is the delivery loop: it starts an attempt for every due message
// (within MaxConcurrent), sleeps until the next one is due or Enqueue
// wakes it, and re-reads the directory when the operator kicked it.
func (q *Queue) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		next := q.dispatch(ctx)
		wait := time.Until(next)
		if next.IsZero() || wait > time.Second {
			wait = time.Second
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		case <-poll.C:
			q.housekeeping()
		}
	}
}

// housekeeping rescans the directory when the operator touched the kick
// file or ScanInterval passed, and closes idle connections.
func (q *Queue) housekeeping() {
	k := q.store.Changed()
	q.mu.Lock()
	kicked := k.After(q.lastKick)
	if kicked {
		q.lastKick = k
	}
	// A shared storage has other writers (nodes enqueueing, a node's
	// lease running out): its schedule is re-read every second.
	stale := q.store.Shared() || time.Since(q.lastScan) > q.opt.ScanInterval
	q.mu.Unlock()
	if kicked || stale {
		if err := q.rescan(); err != nil {
			q.log().Error("queue: rescan", "err", err)
		}
	}
	q.pool.reap(q.opt.IdleTimeout)
}

// dispatch starts due attempts and returns when the next message is due
// (zero if none is waiting).
func (q *Queue) dispatch(ctx context.Context) time.Time {
	now := q.opt.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	var ids []string
	for id, t := range q.due {
		if q.inflight[id] {
			continue
		}
		if t.After(now) {
			if next.IsZero() || t.Before(next) {
				next = t
			}
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids) // oldest first; ids are time-ordered
	for _, id := range ids {
		select {
		case q.sem <- struct{}{}:
		default:
			return time.Time{} // all workers busy; one wakes us when done
		}
		q.inflight[id] = true
		q.wg.Add(1)
		go q.attempt(ctx, id)
	}
	if !next.IsZero() {
		// The test clock (Options.Now) may run ahead of the wall clock.
		next = time.Now().Add(next.Sub(now))
	}
	return next
}

// attempt tries to deliver the pending recipients of message id once.
func (q *Queue) attempt(ctx context.Context, id string) {
	defer func() {
		if v := recover(); v != nil {
			// A bug must not take the server down; the message stays
			// queued and is tried again after the usual delay.
			q.log().Error("queue: panic in delivery", "id", id, "panic", v, "stack", string(debug.Stack()))
			q.mu.Lock()
			q.due[id] = q.opt.Now().Add(q.opt.RetryMax)
			q.mu.Unlock()
		}
		<-q.sem
		q.mu.Lock()
		delete(q.inflight, id)
		q.mu.Unlock()
		q.wg.Done()
		q.poke()
	}()
	st, data, err := q.store.Claim(ctx, id, q.opt.Lease)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClaimed) || errors.Is(err, ErrHeld) {
		// Delivered, deleted or held meanwhile, or another node is on
		// it: the next read of Due says when it is ours to try again.
		q.forget(id)
		return
	}
	if err != nil {
		// Possibly passing (out of file descriptors): never drop the
		// message for it; an operator sees it in the log and the listing.
		q.log().Error("queue: cannot read message, will retry", "id", id, "err", err)
		q.mu.Lock()
		q.due[id] = q.opt.Now().Add(q.opt.RetryMin)
		q.mu.Unlock()
		return
	}
	defer data.close()
	actx, stop := context.WithCancelCause(ctx)
	renewed := q.keepClaim(actx, stop, id)
	q.deliverAll(actx, st, data)
	stop(nil)
	<-renewed
	if errors.Is(context.Cause(actx), ErrLost) {
		// Another node took the message (our lease ran out): its state is
		// now that node's to write.
		q.log().Error("queue: claim lost during delivery", "id", id)
		q.forget(id)
		return
	}
	if ctx.Err() != nil {
		// Shutdown cut the attempt: what was not sent stays pending and is
		// tried first thing at the next start.
		st.NextAttempt = q.opt.Now()
		q.save(st)
		return
	}
	q.finish(ctx, st, data)
}

// deliverAll sends to every pending recipient of st, one goroutine per
// domain (at most domainsInParallel): a slow domain must not hold up the
// others. Each has its own reader on the file (io.SectionReader).
func (q *Queue) deliverAll(ctx context.Context, st *State, data *Body) {
	byDomain := map[string][]*Rcpt{}
	var domains []string
	for _, r := range st.Pending() {
		d := domainOf(r.Addr)
		if byDomain[d] == nil {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], r)
	}
	results := make([][]result, len(domains))
	var wg sync.WaitGroup
	lim := make(chan struct{}, domainsInParallel)
	for i, d := range domains {
		wg.Add(1)
		lim <- struct{}{}
		go func() {
			defer func() {
				if v := recover(); v != nil {
					q.log().Error("queue: panic in delivery", "id", st.ID, "domain", d, "panic", v, "stack", string(debug.Stack()))
					results[i] = make([]result, len(byDomain[d]))
					for j := range results[i] {
						results[i][j] = tempResult("internal error")
					}
				}
				<-lim
				wg.Done()
			}()
			results[i] = q.deliverDomain(ctx, d, st, byDomain[d], data)
		}()
	}
	wg.Wait()
	for i, d := range domains {
		for j, r := range byDomain[d] {
			applyResult(r, results[i][j])
			logAttempt(st, r)
		}
	}
}

func (q *Queue) forget(id string) {
	q.mu.Lock()
	delete(q.due, id)
	q.mu.Unlock()
}

// applyResult records the outcome of an attempt for one recipient.
func applyResult(r *Rcpt, res result) {
	r.Code, r.Enhanced, r.Diag, r.RemoteMTA = res.code, res.enhanced, res.diag, res.remote
	switch {
	case res.sent():
		r.Status = StatusSent
		mDeliveries.With("sent").Inc()
	case res.perm:
		r.Status = StatusFailed
		mDeliveries.With("bounced").Inc()
	default:
		mDeliveries.With("deferred").Inc()
	}
}

// finish writes the state after an attempt: expired recipients fail,
// failures are bounced, a first long delay is reported, and a message with
// nothing pending leaves the queue.
func (q *Queue) finish(ctx context.Context, st *State, data *Body) {
	now := q.opt.Now()
	st.Attempts++
	age := now.Sub(st.Created)
	var failed, pending []*Rcpt
	for i := range st.Rcpts {
		r := &st.Rcpts[i]
		if r.Status == StatusPending && age >= q.opt.Lifetime {
			// The last temporary status stays, as the reason (RFC 3464
			// §2.3.4 lets a failed action carry a 4.x.x code); without one,
			// RFC 3463 §3.5 4.4.7 "delivery time expired".
			r.Status = StatusFailed
			r.Diag = "gave up after " + age.Round(time.Minute).String() + "; last error: " + r.Diag
			if r.Enhanced == "" {
				r.Enhanced = "4.4.7"
			}
			mDeliveries.With("bounced").Inc()
			logExpired(st, r)
		}
		switch r.Status {
		case StatusFailed:
			if !r.Reported {
				failed = append(failed, r)
			}
		case StatusPending:
			pending = append(pending, r)
		}
	}
	if len(failed) > 0 {
		q.notify(ctx, st, "failed", failed, data)
		for _, r := range failed {
			r.Reported = true
		}
	}
	if len(pending) == 0 {
		if err := q.store.Done(context.WithoutCancel(ctx), st.ID); err != nil && !errors.Is(err, ErrNotFound) {
			// Left queued: it is tried again, a duplicate rather than a loss.
			q.log().Error("queue: removing delivered message", "id", st.ID, "err", err)
		}
		q.forget(st.ID)
		q.log().Info("queue: done", "id", st.ID, "attempts", st.Attempts)
		return
	}
	if !st.DelayNotified && q.opt.DelayNotice > 0 && age >= q.opt.DelayNotice {
		q.notify(ctx, st, "delayed", pending, data)
		st.DelayNotified = true
	}
	st.NextAttempt = now.Add(q.backoff(st.Attempts))
	q.log().Info("queue: deferred", "id", st.ID, "pending", len(pending), "next", st.NextAttempt, "last", pending[0].Diag)
	logDeferred(st, pending)
	q.save(st)
}

// save writes st (and ends the claim) unless the operator deleted the
// message meanwhile.
func (q *Queue) save(st *State) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := q.store.Save(ctx, st)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrLost) {
		q.forget(st.ID)
		return
	}
	if err != nil {
		// The old state stays: the recipients are tried again, which may
		// send a duplicate but never loses one.
		q.log().Error("queue: saving state", "id", st.ID, "err", err)
	}
	q.mu.Lock()
	if st.Held {
		delete(q.due, st.ID)
	} else {
		q.due[st.ID] = st.NextAttempt
	}
	q.mu.Unlock()
}

// keepClaim renews the claim on message id every Lease/3 until ctx ends;
// a lost claim cancels the attempt (stop, with cause ErrLost). A renewal
// that fails otherwise (the database briefly away) is retried at the next
// tick: the lease still has two thirds to run. The returned channel
// closes when it has stopped.
func (q *Queue) keepClaim(ctx context.Context, stop context.CancelCauseFunc, id string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(q.opt.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := q.store.Renew(ctx, id, q.opt.Lease)
			if errors.Is(err, ErrLost) || errors.Is(err, ErrNotFound) {
				stop(ErrLost)
				return
			} else if err != nil && ctx.Err() == nil {
				q.log().Warn("queue: renewing claim", "id", id, "err", err)
			}
		}
	}()
	return done
}

// backoff doubles from RetryMin up to RetryMax.
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.opt.RetryMin
	for i := 1; i < attempts && d < q.opt.RetryMax; i++ {
		d *= 2
	}
	return min(d, q.opt.RetryMax)
}

// deliverDomain sends to the recipients of one domain, trying its hosts in
// order until one gives an answer about the recipients.
func (q *Queue) deliverDomain(ctx context.Context, domain string, st *State, rcpts []*Rcpt, data *Body) []result {
	res := make([]result, len(rcpts))
	fill := func(r result) []result {
		for i := range res {
			res[i] = r
		}
		return res
	}
	sem := q.domainSem(domain)
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return fill(tempResult("shutting down"))
	}
	hops, perr := q.hops(ctx, domain)
	if perr != nil {
		return fill(*perr)
	}
	last := tempResult("no mail host for " + domain)
	for i, h := range hops {
		s, err := q.acquire(ctx, h)
		if err != nil {
			last = errResult(err, h.name)
			last.perm = false // a host refusing to talk: try the next, retry later
			continue
		}
		out, ok := q.transact(ctx, s, st, rcpts, data)
		if ok {
			q.pool.put(s)
		} else {
			s.close()
		}
		// RFC 5321 §5.1: a host that fails temporarily for everyone
		// before taking the recipients hands over to the next one.
		if i < len(hops)-1 && allTempBeforeData(out) {
			last = out[0]
			continue
		}
		return out
	}
	return fill(last)
}

func allTempBeforeData(out []result) bool {
	for _, r := range out {
		if r.sent() || r.perm {
			return false
		}
	}
	return true
}

func (q *Queue) domainSem(domain string) chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.domSem[domain]
	if !ok {
		s = make(chan struct{}, q.opt.MaxPerDomain)
		q.domSem[domain] = s
	}
	return s
}
