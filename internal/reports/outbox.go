package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// TLSSession is the outcome of one outbound SMTP session's TLS, as
// RFC 8460 §4.3 counts it.
type TLSSession struct {
	Time time.Time `json:"time"`
	// Domain is the recipient domain (the policy domain).
	Domain string `json:"domain"`
	// PolicyType is "sts", "tlsa" or "no-policy-found" (RFC 8460 §4.3).
	PolicyType  string `json:"policy_type"`
	MXHost      string `json:"mx_host"`
	ReceivingIP string `json:"receiving_ip,omitempty"`
	SendingIP   string `json:"sending_ip,omitempty"`
	// Failure is "" for a successful session, else a result-type of
	// RFC 8460 §4.3 (starttls-not-supported, certificate-host-mismatch,
	// certificate-expired, certificate-not-trusted, validation-failure,
	// tlsa-invalid, dnssec-invalid, dane-required, sts-...).
	Failure string `json:"failure,omitempty"`
}

// DMARCEvent is the DMARC evaluation of one inbound message, as one row
// of an aggregate report counts it (RFC 7489 Appendix C).
type DMARCEvent struct {
	Time         time.Time `json:"time"`
	SourceIP     string    `json:"source_ip"`
	HeaderFrom   string    `json:"header_from"`   // the RFC5322.From domain, the report's subject
	Disposition  string    `json:"disposition"`   // none, quarantine, reject: what we did
	DKIM         string    `json:"dkim"`          // aligned DKIM: pass or fail
	SPF          string    `json:"spf"`           // aligned SPF: pass or fail
	Policy       string    `json:"policy"`        // the published p= (or sp=)
	DKIMDomain   string    `json:"dkim_domain"`   // auth_results
	DKIMResult   string    `json:"dkim_result"`   //
	SPFDomain    string    `json:"spf_domain"`    //
	SPFResult    string    `json:"spf_result"`    //
	EnvelopeFrom string    `json:"envelope_from"` // domain
}

// Outbox records the events our own reports are made of, one JSON line
// per event in DIR/KIND-YYYY-MM-DD.jsonl (UTC day). Recording is best
// effort: a report is statistics, and mail never waits for it.
type Outbox struct {
	Dir string
	mu  sync.Mutex
}

// Record appends v (a TLSSession or a DMARCEvent) to kind's file of the
// day of t.
func (o *Outbox) Record(kind string, t time.Time, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(o.file(kind, t.UTC().Format(time.DateOnly)), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o *Outbox) file(kind, day string) string { return filepath.Join(o.Dir, kind+"-"+day+".jsonl") }

// Days returns the days before today (UTC) that have events of kind, oldest
// first: those whose report can be made.
func (o *Outbox) Days(kind string, now time.Time) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(o.Dir, kind+"-*.jsonl"))
	if err != nil {
		return nil, err
	}
	today := now.UTC().Format(time.DateOnly)
	var out []string
	for _, n := range names {
		day := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), kind+"-"), ".jsonl")
		if _, err := time.Parse(time.DateOnly, day); err == nil && day < today {
			out = append(out, day)
		}
	}
	sort.Strings(out)
	return out, nil
}

// maxEvents bounds the events read from one day's file.
const maxEvents = 1 << 20

// ReadTLS returns the TLS sessions recorded on day.
func (o *Outbox) ReadTLS(day string) ([]TLSSession, error) {
	var out []TLSSession
	err := o.read(KindTLSRPT, day, func(b []byte) error {
		var s TLSSession
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// ReadDMARC returns the DMARC evaluations recorded on day.
func (o *Outbox) ReadDMARC(day string) ([]DMARCEvent, error) {
	var out []DMARCEvent
	err := o.read(KindDMARC, day, func(b []byte) error {
		var e DMARCEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func (o *Outbox) read(kind, day string, each func([]byte) error) error {
	f, err := os.Open(o.file(kind, day))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= maxEvents {
			return fmt.Errorf("reports: more than %d events on %s", maxEvents, day)
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := each(sc.Bytes()); err != nil {
			continue // a line torn by a crash: skip it
		}
	}
	return sc.Err()
}

// Done removes the events of kind on day once its reports are queued.
func (o *Outbox) Done(kind, day string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return os.Remove(o.file(kind, day))
}
