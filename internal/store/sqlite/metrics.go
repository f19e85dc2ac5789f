package sqlite

import "time"

// Observer receives the figures that show how well group commit
// amortises the fsyncs. The store records no metrics itself (the CLI
// connects an Observer to internal/metrics), as store.Metered keeps
// latency metrics out of the backends. Any field may be nil; the
// functions are called from the writer goroutines and must not block.
type Observer struct {
	// BlobSync is one batch's durable write: its log record appended
	// (adding batches) and the blob log fsynced, from its start to the
	// end of the fsync (which overlaps the batch's row inserts). The
	// bytes themselves are written earlier, without a sync.
	BlobSync func(d time.Duration)
	// Commit is one batch's index transaction run, made durable and
	// committed (or failed), with the number of write requests it
	// carried: it includes the BlobSync time.
	Commit func(d time.Duration, requests int)
	// Request is one write request acknowledged, ok or failed.
	Request func(ok bool)
}

func (o *Observer) blobSync(d time.Duration) {
	if o.BlobSync != nil {
		o.BlobSync(d)
	}
}

func (o *Observer) commit(d time.Duration, requests int) {
	if o.Commit != nil {
		o.Commit(d, requests)
	}
}

func (o *Observer) request(ok bool) {
	if o.Request != nil {
		o.Request(ok)
	}
}
