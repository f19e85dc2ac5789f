package web

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/reports"
	"github.com/youju/youju/internal/store"
)

// The operations side of the admin API (api.go, docs/api.md): the
// outbound queue, recent mail events, received reports, server health.

// AdminOptions are what the admin console and API need beyond the store.
// Every field is optional: what is missing answers 503.
type AdminOptions struct {
	// Queue is the outbound queue (the queue directory or PostgreSQL),
	// the same storage "youju queue" works on.
	Queue queue.Storage
	// DNSRecords returns the records a domain needs ("youju dns").
	DNSRecords func(ctx context.Context, domain string) ([]dnsrec.Record, error)
	// DNSCheck looks records up ("youju dns check").
	DNSCheck func(ctx context.Context, recs []dnsrec.Record) []dnsrec.Result
	// Events holds the recent mail log events (maillog).
	Events *EventLog
	// Reports lists the DMARC and TLS-RPT reports received ("youju report list").
	Reports func() ([]reports.Summary, error)
	// Listeners are the server's listeners, shown in health.
	Listeners []Listener
	// DataDir is the data directory, whose disk's free space health shows.
	DataDir string
	// DefaultQuotaBytes is the quota of accounts created through the API
	// without one (limits.default_quota_bytes).
	DefaultQuotaBytes int64
}

// Listener is one listening socket, for health.
type Listener struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// queueID is the form of queue ids (queue.Storage.NewID: [0-9a-f-]).
var queueID = regexp.MustCompile(`^[0-9a-f-]{1,64}$`)

// queueStorage returns the queue; else it has answered.
func (s *server) queueStorage(w http.ResponseWriter) (queue.Storage, bool) {
	if s.opt.Admin == nil || s.opt.Admin.Queue == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "no outbound queue here")
		return nil, false
	}
	return s.opt.Admin.Queue, true
}

// queueFail answers a queue error.
func (s *server) queueFail(w http.ResponseWriter, err error) {
	if errors.Is(err, queue.ErrNotFound) {
		apiFail(w, http.StatusNotFound, "not_found", "no such queued message")
		return
	}
	s.log.Error("admin API: queue", "err", err)
	apiFail(w, http.StatusInternalServerError, "internal", "internal error")
}

type apiQueued struct {
	*queue.State
	Pending []string `json:"pending"`
	Broken  string   `json:"broken,omitempty"`
}

func toAPIQueued(st *queue.State) apiQueued {
	q := apiQueued{State: st, Broken: st.Broken, Pending: []string{}}
	for _, r := range st.Pending() {
		q.Pending = append(q.Pending, r.Addr)
	}
	return q
}

func (s *server) apiQueue(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	q, ok := s.queueStorage(w)
	if !ok {
		return
	}
	all, err := q.List(r.Context())
	if err != nil {
		s.queueFail(w, err)
		return
	}
	out := make([]apiQueued, 0, len(all))
	for _, st := range all {
		out = append(out, toAPIQueued(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}

// queueTarget returns the queue and the {id} of the path if well formed;
// else it has answered.
func (s *server) queueTarget(w http.ResponseWriter, r *http.Request) (queue.Storage, string, bool) {
	id := r.PathValue("id")
	if !queueID.MatchString(id) {
		apiFail(w, http.StatusBadRequest, "invalid", "bad queue id")
		return nil, "", false
	}
	q, ok := s.queueStorage(w)
	return q, id, ok
}

func (s *server) apiQueueShow(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	q, id, ok := s.queueTarget(w, r)
	if !ok {
		return
	}
	st, err := q.State(r.Context(), id)
	if err != nil {
		s.queueFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIQueued(st))
}

// apiQueueAction is retry (due now), hold or release, as "youju queue".
func (s *server) apiQueueAction(w http.ResponseWriter, r *http.Request, c apiCaller) {
	q, id, ok := s.queueTarget(w, r)
	if !ok {
		return
	}
	var err error
	switch a := r.PathValue("action"); a {
	case "retry":
		_, err = q.Retry(r.Context(), id, s.opt.Now())
	case "hold", "release":
		err = q.SetHeld(r.Context(), id, a == "hold")
	default:
		apiFail(w, http.StatusNotFound, "not_found", "queue actions: retry, hold, release")
		return
	}
	if err != nil {
		s.queueFail(w, err)
		return
	}
	s.log.Info("admin: queue "+r.PathValue("action"), "admin", c.acct.Address, "qid", id)
	st, err := q.State(r.Context(), id)
	if err != nil {
		s.queueFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIQueued(st))
}

func (s *server) apiQueueDelete(w http.ResponseWriter, r *http.Request, c apiCaller) {
	q, id, ok := s.queueTarget(w, r)
	if !ok {
		return
	}
	if err := q.Remove(r.Context(), id); err != nil {
		s.queueFail(w, err)
		return
	}
	s.log.Info("admin: queue delete", "admin", c.acct.Address, "qid", id)
	w.WriteHeader(http.StatusNoContent)
}

// apiEvents returns the most recent mail log events, newest first: of
// every node when the store is shared (EventLog.Share).
func (s *server) apiEvents(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	if s.opt.Admin == nil || s.opt.Admin.Events == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "no mail log here")
		return
	}
	n := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > eventLogSize {
			apiFail(w, http.StatusBadRequest, "invalid", "limit: 1.."+strconv.Itoa(eventLogSize))
			return
		}
		n = k
	}
	evs, err := s.opt.Admin.Events.RecentAll(r.Context(), n, r.URL.Query().Get("event"))
	if err != nil {
		s.storeFail(w, err, "mail events")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

type apiReportDay struct {
	Day     string `json:"day"`
	Kind    string `json:"kind"`
	Org     string `json:"reporter"`
	Domain  string `json:"domain"`
	Reports int    `json:"reports"`
	Total   int64  `json:"total"`
	Pass    int64  `json:"pass"`
	Fail    int64  `json:"fail"`
}

// apiReports sums the received reports per day, as "youju report list".
func (s *server) apiReports(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	if s.opt.Admin == nil || s.opt.Admin.Reports == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "no reports here")
		return
	}
	sums, err := s.opt.Admin.Reports()
	if err != nil {
		s.log.Error("admin API: reports", "err", err)
		apiFail(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	rows := reports.ByDay(sums)
	out := make([]apiReportDay, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- { // newest first
		x := rows[i]
		out = append(out, apiReportDay{Day: x.Day, Kind: x.Kind, Org: x.Org, Domain: x.Domain, Reports: x.Reports,
			Total: x.Total, Pass: x.Pass, Fail: x.Fail})
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": out})
}

type apiHealth struct {
	Listeners      []Listener `json:"listeners"`
	CertNotAfter   jsonTime   `json:"cert_not_after"`
	CertDaysLeft   *int       `json:"cert_days_left"`
	CertNames      []string   `json:"cert_names"`
	DiskFreeBytes  *uint64    `json:"disk_free_bytes"`
	DiskTotalBytes *uint64    `json:"disk_total_bytes"`
	QueueSize      *int       `json:"queue_size"`
	QueueHeld      *int       `json:"queue_held"`
	IndexLag       *int64     `json:"index_lag"`
	Problems       []string   `json:"problems"`
}

// apiHealth reports what an operator checks first; a part that cannot be
// read is null, with a line in problems.
func (s *server) apiHealth(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	h := apiHealth{Listeners: []Listener{}, Problems: []string{}}
	ao := s.opt.Admin
	if ao == nil {
		ao = &AdminOptions{}
	}
	h.Listeners = append(h.Listeners, ao.Listeners...)
	now := s.opt.Now()
	if s.opt.TLSCert != nil {
		if c := s.opt.TLSCert(); c != nil && len(c.Certificate) > 0 {
			if x, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
				days := int(x.NotAfter.Sub(now).Hours() / 24)
				h.CertNotAfter, h.CertDaysLeft, h.CertNames = jsonTime(x.NotAfter), &days, x.DNSNames
				if days < 14 {
					h.Problems = append(h.Problems, "the TLS certificate expires in "+strconv.Itoa(days)+" days")
				}
			}
		}
	}
	if ao.DataDir != "" {
		if free, total, err := diskSpace(ao.DataDir); err == nil {
			h.DiskFreeBytes, h.DiskTotalBytes = &free, &total
			if total > 0 && free < total/20 {
				h.Problems = append(h.Problems, "less than 5% disk space free in the data directory")
			}
		} else {
			h.Problems = append(h.Problems, "disk space: "+err.Error())
		}
	}
	if ao.Queue != nil {
		if all, err := ao.Queue.List(r.Context()); err == nil {
			n, held := len(all), 0
			for _, st := range all {
				if st.Held {
					held++
				}
			}
			h.QueueSize, h.QueueHeld = &n, &held
		} else {
			h.Problems = append(h.Problems, "queue: "+err.Error())
		}
	}
	if ts := textIndexStatusOf(s.opt.Store); ts != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if n, err := ts.TextIndexPending(ctx); err == nil {
			h.IndexLag = &n
		}
	}
	writeJSON(w, http.StatusOK, h)
}

// textIndexStatusOf returns st as store.TextIndexStatus (Metered passes
// it through), nil if it has none.
func textIndexStatusOf(st any) store.TextIndexStatus { return storeAs[store.TextIndexStatus](st) }
