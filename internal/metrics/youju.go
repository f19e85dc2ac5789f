package metrics

// The well-known metrics of youju. Every package counts through these, so
// dashboards and alerts see one set of names whichever component is busy.

// Values of the "proto" label.
const (
	ProtoSMTP = "smtp"
	ProtoIMAP = "imap"
	ProtoPOP3 = "pop3"
	ProtoHTTP = "http"
)

// Values of the "result" label of Logins.
const (
	LoginOK        = "ok"
	LoginFailed    = "failed"
	LoginThrottled = "throttled"
)

// Values of the "path" label of MessagesDelivered.
const (
	PathInbound    = "inbound"    // SMTP from other servers (MX)
	PathSubmission = "submission" // SMTP from our own users, delivered locally
	PathAppend     = "append"     // IMAP APPEND
)

// StoreBuckets are the bounds of StoreLatency in seconds: a store call is
// usually well under a millisecond, and a delivery waits for one fsync
// (a few milliseconds on SSD, tens on disks, more under group commit).
var StoreBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

var (
	// Connections counts accepted connections by protocol and listener
	// name (from the configuration, e.g. "smtp", "submissions", "imaps").
	Connections = NewCounter("youju_connections_total",
		"Connections accepted, by protocol and listener.", "proto", "listener")

	// ActiveConnections is the number of open connections by protocol:
	// Inc when a connection is accepted, Dec (deferred) when it ends.
	ActiveConnections = NewGauge("youju_active_connections",
		"Connections currently open, by protocol.", "proto")

	// Logins counts authentication attempts by protocol and result
	// (LoginOK, LoginFailed, LoginThrottled).
	Logins = NewCounter("youju_logins_total",
		"Authentication attempts, by protocol and result.", "proto", "result")

	// MessagesDelivered counts messages committed to the store, by the path
	// they came (PathInbound, PathSubmission, PathAppend). Count after the
	// store returned, as the client is acknowledged.
	MessagesDelivered = NewCounter("youju_messages_delivered_total",
		"Messages stored in mailboxes, by delivery path.", "path")

	// StoreLatency observes the duration of store operations in seconds,
	// by operation name (e.g. "deliver", "fetch", "search", "flags").
	StoreLatency = NewHistogram("youju_store_latency_seconds",
		"Duration of store operations in seconds, by operation.", StoreBuckets, "op")
)
