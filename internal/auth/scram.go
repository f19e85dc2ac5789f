package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SCRAM mechanism names (RFC 7677 §3; -PLUS binds to the TLS channel,
// RFC 5802 §4).
const (
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// cbTLSExporter is the only channel binding type we offer (RFC 9266).
// tls-unique (RFC 5929) is undefined for TLS 1.3, and tls-server-end-point
// binds only to the certificate.
const cbTLSExporter = "tls-exporter"

// ChannelBinding returns the tls-exporter channel binding data of a TLS
// connection (RFC 9266 §2: 32 bytes exported with the label
// "EXPORTER-Channel-Binding" and no context), or nil if there is none:
// no TLS, or TLS 1.2 without Extended Master Secret, which RFC 9266 §3
// forbids and crypto/tls refuses.
func ChannelBinding(cs *tls.ConnectionState) []byte {
	if cs == nil || !cs.HandshakeComplete {
		return nil
	}
	b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil
	}
	return b
}

// Limits on what a client sends, so that no input makes us allocate or
// loop without bound.
const (
	maxSCRAMMessage = 2048 // bytes of a client message (a user name is at most a few hundred)
	maxSCRAMKeys    = 64   // keys (main password + app passwords) tried for one proof
	scramNonceBytes = 24   // random bytes of the server's nonce part (RFC 5802 §5.1: unique, unpredictable)
)

// Server error values of RFC 5802 §7 (server-error-value).
const (
	eInvalidEncoding              = "invalid-encoding"
	eExtensionsNotSupported       = "extensions-not-supported"
	eInvalidProof                 = "invalid-proof"
	eChannelBindingsDontMatch     = "channel-bindings-dont-match"
	eServerDoesSupportCB          = "server-does-support-channel-binding"
	eChannelBindingNotSupported   = "channel-binding-not-supported"
	eUnsupportedChannelBindingTyp = "unsupported-channel-binding-type"
	eInvalidUsernameEncoding      = "invalid-username-encoding"
	eOtherError                   = "other-error"
)

// SCRAMError is a failed SCRAM exchange. Value is the server-error-value of
// RFC 5802 §7 ("invalid-proof", "channel-bindings-dont-match", ...), safe to
// show to the client: an unknown user fails exactly as a wrong password
// does (RFC 5802 §9), with invalid-proof.
type SCRAMError struct{ Value string }

func (e *SCRAMError) Error() string { return "auth: SCRAM failed: e=" + e.Value }

// Unwrap makes every SCRAM failure an ErrInvalidCredentials for front-ends.
func (e *SCRAMError) Unwrap() error { return ErrInvalidCredentials }

func scramErr(v string) error { return &SCRAMError{Value: v} }

// clientFirst is a parsed client-first-message (RFC 5802 §7).
type clientFirst struct {
	gs2Header string // "n,,", "y,,", "p=tls-exporter,a=authzid," as sent
	cbFlag    byte   // 'n', 'y' or 'p'
	cbName    string // for 'p'
	authzid   string // decoded; "" if absent
	username  string // decoded saslname, not yet prepared
	nonce     string // c-nonce
	bare      string // client-first-message-bare, for AuthMessage
}

// parseClientFirst parses
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func parseClientFirst(msg string) (clientFirst, error) {
	var m clientFirst
	if len(msg) > maxSCRAMMessage || !utf8.ValidString(msg) {
		return m, scramErr(eInvalidEncoding)
	}
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return m, scramErr(eInvalidEncoding)
	}
	switch {
	case flag == "n" || flag == "y":
		m.cbFlag = flag[0]
	case strings.HasPrefix(flag, "p=") && isCBName(flag[2:]):
		m.cbFlag, m.cbName = 'p', flag[2:]
	default:
		return m, scramErr(eInvalidEncoding)
	}
	az, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return m, scramErr(eInvalidEncoding)
	}
	if az != "" {
		v, ok := strings.CutPrefix(az, "a=")
		if !ok {
			return m, scramErr(eInvalidEncoding)
		}
		if m.authzid, ok = decodeSASLName(v); !ok {
			return m, scramErr(eInvalidUsernameEncoding)
		}
	}
	m.gs2Header = msg[:len(msg)-len(bare)]
	m.bare = bare
	attrs := strings.Split(bare, ",") // bounded: the message is
	if strings.HasPrefix(attrs[0], "m=") {
		// RFC 5802 §5.1: a mandatory extension we do not know.
		return m, scramErr(eExtensionsNotSupported)
	}
	if len(attrs) < 2 || !validExtensions(attrs[2:]) {
		return m, scramErr(eInvalidEncoding)
	}
	user, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return m, scramErr(eInvalidEncoding)
	}
	if m.username, ok = decodeSASLName(user); !ok {
		return m, scramErr(eInvalidUsernameEncoding)
	}
	if m.nonce, ok = strings.CutPrefix(attrs[1], "r="); !ok || !validNonce(m.nonce) {
		return m, scramErr(eInvalidEncoding)
	}
	return m, nil
}

// clientFinal is a parsed client-final-message (RFC 5802 §7).
type clientFinal struct {
	cbind        []byte // decoded c=
	nonce        string
	proof        []byte
	withoutProof string // client-final-message-without-proof, for AuthMessage
}

// parseClientFinal parses
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
func parseClientFinal(msg string) (clientFinal, error) {
	var m clientFinal
	if len(msg) > maxSCRAMMessage || !utf8.ValidString(msg) {
		return m, scramErr(eInvalidEncoding)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return m, scramErr(eInvalidEncoding)
	}
	m.withoutProof = msg[:i]
	var err error
	if m.proof, err = base64.StdEncoding.Strict().DecodeString(msg[i+3:]); err != nil {
		return m, scramErr(eInvalidEncoding)
	}
	attrs := strings.Split(m.withoutProof, ",")
	if len(attrs) < 2 || !validExtensions(attrs[2:]) {
		return m, scramErr(eInvalidEncoding)
	}
	c, ok := strings.CutPrefix(attrs[0], "c=")
	if !ok {
		return m, scramErr(eInvalidEncoding)
	}
	if m.cbind, err = base64.StdEncoding.Strict().DecodeString(c); err != nil {
		return m, scramErr(eInvalidEncoding)
	}
	if m.nonce, ok = strings.CutPrefix(attrs[1], "r="); !ok || !validNonce(m.nonce) {
		return m, scramErr(eInvalidEncoding)
	}
	return m, nil
}

// decodeSASLName undoes the escaping of RFC 5802 §5.1: "," is sent as "=2C"
// and "=" as "=3D"; any other "=" is an error, as is an empty name or NUL.
func decodeSASLName(s string) (string, bool) {
	if s == "" || strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce is RFC 5802 §7: printable ASCII except ",".
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// validExtensions checks attr-val = ALPHA "=" value; the values are
// ignored (RFC 5802 §5: an unknown optional extension is skipped).
func validExtensions(attrs []string) bool {
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !isAlpha(a[0]) {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isCBName is cb-name = 1*(ALPHA / DIGIT / "." / "-").
func isCBName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// checkChannelBinding applies RFC 5802 §6 to the gs2 flag of the client:
// plus is true for the -PLUS mechanism, cb is the connection's binding data
// (nil when -PLUS is not advertised on it).
func checkChannelBinding(m clientFirst, plus bool, cb []byte) error {
	switch {
	case plus && m.cbFlag != 'p':
		// A client that chose -PLUS must bind (RFC 5802 §6).
		return scramErr(eOtherError)
	case plus && m.cbName != cbTLSExporter:
		return scramErr(eUnsupportedChannelBindingTyp)
	case !plus && m.cbFlag == 'p':
		// Binding is only negotiated through the -PLUS mechanism.
		return scramErr(eChannelBindingNotSupported)
	case m.cbFlag == 'y' && cb != nil:
		// The client can bind but believes we cannot, though we advertised
		// -PLUS: someone removed it from our list (downgrade, RFC 5802 §6).
		return scramErr(eServerDoesSupportCB)
	}
	return nil
}

// serverNonce returns the client's nonce followed by our random part.
func serverNonce(clientNonce string) (string, error) {
	b := make([]byte, scramNonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return clientNonce + base64.RawStdEncoding.EncodeToString(b), nil
}

// serverFirstMessage is "r=" nonce ",s=" salt ",i=" iteration-count.
func serverFirstMessage(nonce string, salt []byte, iter int) string {
	return "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(salt) + ",i=" + strconv.Itoa(iter)
}

// verifyProof checks a ClientProof against StoredKey (RFC 5802 §3):
//
//	ClientSignature := HMAC(StoredKey, AuthMessage)
//	ClientKey       := ClientProof XOR ClientSignature
//	valid if H(ClientKey) == StoredKey
func verifyProof(k scramKeys, authMessage string, proof []byte) bool {
	if len(proof) != scramKeyLen {
		return false
	}
	sig := hmacSHA256(k.storedKey, authMessage)
	key := make([]byte, scramKeyLen)
	subtle.XORBytes(key, proof, sig)
	h := sha256.Sum256(key)
	return subtle.ConstantTimeCompare(h[:], k.storedKey) == 1
}

// serverSignature is HMAC(ServerKey, AuthMessage), sent as "v=" (RFC 5802 §3).
func serverSignature(k scramKeys, authMessage string) []byte {
	return hmacSHA256(k.serverKey, authMessage)
}

// fakeSalt is the salt shown for a user without SCRAM keys (unknown, or
// whose password predates them): derived from the name with a secret of
// this process, so that asking twice gives the same answer, as for a real
// user, and the server-first-message does not tell that the user does not
// exist (RFC 5802 §9).
func fakeSalt(addr string) []byte {
	m := hmac.New(sha256.New, fakeSaltKey)
	m.Write([]byte(addr))
	return m.Sum(nil)[:scramSaltLen]
}

var fakeSaltKey = func() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return b
}()
