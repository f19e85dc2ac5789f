package spam

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// sendWindow is what an account sent in the last day, per minute: the
// value of send/ACCOUNT/w in the shared store (sendshared.go), read and
// written whole by each Allow. Minutes rather than messages keep it
// small however much the account may send (at most 1,441 buckets); a
// bucket counts in a window while any part of its minute is inside, so
// the shared limits are up to a minute stricter than the journal's
// seconds.
type sendWindow []sendBucket

type sendBucket struct {
	minute      int64 // Unix time / 60
	msgs, fresh int64
}

// sendWindowTTL keeps a window a little past its last day: an account
// that stops sending leaves nothing behind.
const sendWindowTTL = 24*time.Hour + 2*time.Minute

// maxSendBuckets bounds what parseSendWindow takes from the store.
const maxSendBuckets = 24*60 + 1

// parseSendWindow reads "MINUTE:MSGS:FRESH,..." (oldest first);
// malformed buckets are skipped: the counters are a safeguard, not mail.
func parseSendWindow(v []byte) sendWindow {
	var w sendWindow
	for part := range strings.SplitSeq(string(v), ",") {
		f := strings.Split(part, ":")
		if len(f) != 3 || len(w) >= maxSendBuckets {
			continue
		}
		m, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[1], 10, 64)
		k, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || n < 0 || k < 0 {
			continue
		}
		w = w.addMinute(m, n, k)
	}
	return w
}

func (w sendWindow) encode() []byte {
	var b []byte
	for i, x := range w {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x.minute, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, x.msgs, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, x.fresh, 10)
	}
	return b
}

// inside reports whether any part of the bucket's minute is after t.
func (x sendBucket) inside(t time.Time) bool {
	return time.Unix((x.minute+1)*60, 0).After(t)
}

// prune drops the buckets wholly older than a day before now.
func (w sendWindow) prune(now time.Time) sendWindow {
	day := now.Add(-24 * time.Hour)
	i := 0
	for i < len(w) && !w[i].inside(day) {
		i++
	}
	return w[i:]
}

// counts is what the window holds in the last hour and day before now.
func (w sendWindow) counts(now time.Time) sendCounts {
	hour, day := now.Add(-time.Hour), now.Add(-24*time.Hour)
	var c sendCounts
	for _, x := range w {
		if x.inside(day) {
			c.msgDay += int(x.msgs)
			c.freshDay += int(x.fresh)
		}
		if x.inside(hour) {
			c.msgHour += int(x.msgs)
			c.freshHour += int(x.fresh)
		}
	}
	return c
}

// add adds msgs and fresh (negative: takes them back, never below 0) to
// the minute of at, keeping the buckets in order.
func (w sendWindow) add(at time.Time, msgs, fresh int64) sendWindow {
	return w.addMinute(at.Unix()/60, msgs, fresh)
}

func (w sendWindow) addMinute(m int64, msgs, fresh int64) sendWindow {
	i, found := slices.BinarySearchFunc(w, m, func(x sendBucket, m int64) int {
		switch {
		case x.minute < m:
			return -1
		case x.minute > m:
			return 1
		}
		return 0
	})
	if !found {
		if msgs <= 0 && fresh <= 0 {
			return w
		}
		w = slices.Insert(w, i, sendBucket{minute: m})
	}
	x := &w[i]
	x.msgs, x.fresh = max(x.msgs+msgs, 0), max(x.fresh+fresh, 0)
	if x.msgs == 0 && x.fresh == 0 {
		w = slices.Delete(w, i, i+1)
	}
	return w
}
