package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// The binary form of an Info, as stored beside each message:
//
//	magic "YI", version byte (codecVersion)
//	counts of parts, params, addresses, languages and envelopes
//	Size, Envelope, SentDate, Subject, From, To, Cc, Bcc, References, Body (Part)
//
// Version 1, written before References were stored, had no References
// and put Body right after Envelope; it is still read. Version 2 puts
// the short fields before Body so that a reader that needs only them
// (ThreadDecoder) stops before the part tree.
//
// The counts let UnmarshalInfo allocate one slab per element type instead
// of one slice per list, which is most of its cost.
// Integers are zig-zag varints, strings and lists are a uvarint length
// followed by their bytes or elements. A Part is its fields in declaration
// order, its children, then a flag byte saying whether Envelope and
// Message follow. A new field means a new version; UnmarshalInfo keeps
// reading the old ones.
const (
	codecMagic0  = 'Y'
	codecMagic1  = 'I'
	codecVersion = 2
	// codecV1 is the first version: no References, Body before SentDate.
	codecV1 = 1
	// maxCodecDepth bounds the Part recursion of UnmarshalInfo; Parse
	// produces at most 2*MaxDepth+1 levels.
	maxCodecDepth = 4*MaxDepth + 8
)

// ErrBadInfo is returned by UnmarshalInfo for bytes that are not an
// encoded Info.
var ErrBadInfo = errors.New("message: malformed encoded info")

// Marshal encodes the Info compactly for storage (see UnmarshalInfo).
func (info *Info) Marshal() []byte {
	b := make([]byte, 0, 256)
	b = append(b, codecMagic0, codecMagic1, codecVersion)
	var c slabCounts
	c.envelope(&info.Envelope)
	c.part(&info.Body)
	for _, n := range []int{c.parts, c.params, c.addrs, c.langs, c.envs} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	b = binary.AppendVarint(b, info.Size)
	b = appendEnvelope(b, &info.Envelope)
	b = appendTime(b, info.SentDate)
	for _, s := range []string{info.Subject, info.From, info.To, info.Cc, info.Bcc} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(info.References)))
	for _, r := range info.References {
		b = appendString(b, r)
	}
	return appendPart(b, &info.Body)
}

// slabCounts counts what UnmarshalInfo will allocate, mirroring what
// Marshal writes (the root part is not counted; it lives in Info).
type slabCounts struct{ parts, params, addrs, langs, envs int }

func (c *slabCounts) envelope(e *Envelope) {
	c.addrs += len(e.From) + len(e.To) + len(e.Cc) + len(e.Bcc)
	if !sameAddresses(e.Sender, e.From) {
		c.addrs += len(e.Sender)
	}
	if !sameAddresses(e.ReplyTo, e.From) {
		c.addrs += len(e.ReplyTo)
	}
}

func (c *slabCounts) part(p *Part) {
	c.params += len(p.Params) + len(p.DispParams)
	c.langs += len(p.Language)
	c.parts += len(p.Parts)
	for i := range p.Parts {
		c.part(&p.Parts[i])
	}
	if p.Envelope != nil {
		c.envs++
		c.envelope(p.Envelope)
	}
	if p.Message != nil {
		c.parts++
		c.part(p.Message)
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendVarint(b, int64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(off))
}

// appendAddresses writes a list as 0 (empty), 1 (same as from: Sender
// and Reply-To default to From, RFC 9051 §7.5.2, so this is the common
// case) or 2+n followed by n addresses.
func appendAddresses(b []byte, list, from []Address) []byte {
	if len(list) == 0 {
		return append(b, 0)
	}
	if from != nil && sameAddresses(list, from) {
		return append(b, 1)
	}
	b = binary.AppendUvarint(b, uint64(len(list))+2)
	for _, a := range list {
		b = appendString(b, a.Name)
		b = appendString(b, a.Adl)
		b = appendString(b, a.Mailbox)
		b = appendString(b, a.Host)
	}
	return b
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	b = appendString(b, e.Date)
	b = appendString(b, e.Subject)
	b = appendAddresses(b, e.From, nil)
	b = appendAddresses(b, e.Sender, e.From)
	b = appendAddresses(b, e.ReplyTo, e.From)
	b = appendAddresses(b, e.To, nil)
	b = appendAddresses(b, e.Cc, nil)
	b = appendAddresses(b, e.Bcc, nil)
	b = appendString(b, e.InReplyTo)
	return appendString(b, e.MessageID)
}

func appendParams(b []byte, ps []Param) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = appendString(b, p.Name)
		b = appendString(b, p.Value)
	}
	return b
}

func appendPart(b []byte, p *Part) []byte {
	b = appendString(b, p.Type)
	b = appendString(b, p.Subtype)
	b = appendParams(b, p.Params)
	b = appendString(b, p.ID)
	b = appendString(b, p.Description)
	b = appendString(b, p.Encoding)
	b = binary.AppendVarint(b, p.Size)
	b = binary.AppendVarint(b, p.Lines)
	b = appendString(b, p.MD5)
	b = appendString(b, p.Disposition)
	b = appendParams(b, p.DispParams)
	b = binary.AppendUvarint(b, uint64(len(p.Language)))
	for _, l := range p.Language {
		b = appendString(b, l)
	}
	b = appendString(b, p.Location)
	b = binary.AppendVarint(b, p.HeaderOffset)
	b = binary.AppendVarint(b, p.BodyOffset-p.HeaderOffset)
	b = binary.AppendUvarint(b, uint64(len(p.Parts)))
	for i := range p.Parts {
		b = appendPart(b, &p.Parts[i])
	}
	var flags byte
	if p.Envelope != nil {
		flags |= 1
	}
	if p.Message != nil {
		flags |= 2
	}
	b = append(b, flags)
	if p.Envelope != nil {
		b = appendEnvelope(b, p.Envelope)
	}
	if p.Message != nil {
		b = appendPart(b, p.Message)
	}
	return b
}

// UnmarshalInfo decodes what Marshal encoded. Any other input returns an
// error wrapping ErrBadInfo; it never panics and allocates at most in
// proportion to len(b). Strings share one copy of b.
func UnmarshalInfo(b []byte) (*Info, error) {
	if len(b) < 3 || b[0] != codecMagic0 || b[1] != codecMagic1 {
		return nil, fmt.Errorf("%w: bad magic", ErrBadInfo)
	}
	v := b[2]
	if v != codecVersion && v != codecV1 {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBadInfo, v)
	}
	d := decoder{s: string(b), pos: 3}
	d.allocSlabs()
	info := &Info{}
	info.Size = d.varint()
	d.total = info.Size
	d.envelope(&info.Envelope)
	if v == codecV1 {
		d.part(&info.Body, 0)
	}
	info.SentDate = d.time()
	info.Subject = d.str()
	info.From = d.str()
	info.To = d.str()
	info.Cc = d.str()
	info.Bcc = d.str()
	if v != codecV1 {
		info.References = d.references(nil)
		d.part(&info.Body, 0)
	}
	if d.err == nil && d.pos != len(d.s) {
		d.fail("trailing bytes")
	}
	if d.err == nil && len(d.slabParts)+len(d.slabParams)+len(d.slabAddrs)+len(d.slabLangs)+len(d.slabEnvs) != 0 {
		d.fail("counts do not match")
	}
	if d.err != nil {
		return nil, d.err
	}
	return info, nil
}

type decoder struct {
	s     string
	pos   int
	err   error
	total int64 // Info.Size, which every part lies within
	// Slabs the lists are cut from, sized by the counts up front.
	slabParts  []Part
	slabParams []Param
	slabAddrs  []Address
	slabLangs  []string
	slabEnvs   []Envelope
}

// allocSlabs reads the counts and allocates the slabs; each count is
// bounded by the bytes left, since every element takes some.
func (d *decoder) allocSlabs() {
	np, nprm, na, nl, ne := d.count(minPartSize), d.count(2), d.count(4), d.count(1), d.count(minEnvelopeSize)
	if d.err != nil {
		return
	}
	d.slabParts = make([]Part, np)
	d.slabParams = make([]Param, nprm)
	d.slabAddrs = make([]Address, na)
	d.slabLangs = make([]string, nl)
	d.slabEnvs = make([]Envelope, ne)
}

// take cuts n elements off the front of a slab, capped so that an append
// by the caller cannot overwrite the next list.
func take[T any](d *decoder, slab *[]T, n int) []T {
	if n > len(*slab) {
		d.fail("counts do not match")
		return nil
	}
	out := (*slab)[:n:n]
	*slab = (*slab)[n:]
	return out
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at %d", ErrBadInfo, what, d.pos)
	}
	d.pos = len(d.s)
}

func (d *decoder) uvarint() uint64 {
	if d.pos < len(d.s) && d.s[d.pos] < 0x80 { // the common one-byte case
		d.pos++
		return uint64(d.s[d.pos-1])
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.pos >= len(d.s) {
			d.fail("truncated")
			return 0
		}
		c := d.s[d.pos]
		d.pos++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				d.fail("varint overflow")
				return 0
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail("varint overflow")
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a list length, which cannot exceed the bytes left since
// every element takes at least minSize bytes.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.pos)/uint64(minSize) {
		d.fail("bad count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.pos) {
		d.fail("bad string length")
		return ""
	}
	s := d.s[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s
}

func (d *decoder) byte() byte {
	if d.pos >= len(d.s) {
		d.fail("truncated")
		return 0
	}
	c := d.s[d.pos]
	d.pos++
	return c
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.fail("bad time")
		return time.Time{}
	}
	sec, nsec, off := d.varint(), d.varint(), d.varint()
	if nsec < 0 || nsec > 999999999 || off < -86400 || off > 86400 {
		d.fail("bad time")
		return time.Time{}
	}
	return time.Unix(sec, nsec).In(time.FixedZone("", int(off)))
}

func sameAddresses(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (d *decoder) addresses(from []Address) []Address {
	v := d.uvarint()
	switch {
	case v == 0:
		return nil
	case v == 1:
		if from == nil {
			d.fail("bad address list")
		}
		return from
	case v-2 > uint64(len(d.s)-d.pos)/4:
		d.fail("bad address count")
		return nil
	}
	n := int(v - 2)
	list := take(d, &d.slabAddrs, n)
	for i := range list {
		list[i] = Address{Name: d.str(), Adl: d.str(), Mailbox: d.str(), Host: d.str()}
	}
	return list
}

func (d *decoder) envelope(e *Envelope) {
	e.Date = d.str()
	e.Subject = d.str()
	e.From = d.addresses(nil)
	e.Sender = d.addresses(e.From)
	e.ReplyTo = d.addresses(e.From)
	e.To = d.addresses(nil)
	e.Cc = d.addresses(nil)
	e.Bcc = d.addresses(nil)
	e.InReplyTo = d.str()
	e.MessageID = d.str()
}

func (d *decoder) params() []Param {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ps := take(d, &d.slabParams, n)
	for i := range ps {
		ps[i] = Param{Name: d.str(), Value: d.str()}
	}
	return ps
}

// minPartSize and minEnvelopeSize are the fewest bytes an encoded Part
// or Envelope takes.
const (
	minPartSize     = 17
	minEnvelopeSize = 10
)

func (d *decoder) part(p *Part, depth int) {
	if depth > maxCodecDepth {
		d.fail("too deep")
		return
	}
	p.Type, p.Subtype = d.str(), d.str()
	p.Params = d.params()
	p.ID, p.Description, p.Encoding = d.str(), d.str(), d.str()
	p.Size, p.Lines = d.varint(), d.varint()
	p.MD5, p.Disposition = d.str(), d.str()
	p.DispParams = d.params()
	if n := d.count(1); n > 0 {
		p.Language = take(d, &d.slabLangs, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	p.Location = d.str()
	p.HeaderOffset = d.varint()
	hdrSize := d.varint()
	// The offsets are used to slice the stored message: keep them inside.
	if p.HeaderOffset < 0 || p.HeaderOffset > d.total || hdrSize < 0 || hdrSize > d.total-p.HeaderOffset ||
		p.Size < 0 || p.Size > d.total-p.HeaderOffset-hdrSize || p.Lines < 0 {
		d.fail("part outside the message")
		return
	}
	p.BodyOffset = p.HeaderOffset + hdrSize
	if n := d.count(minPartSize); n > 0 {
		p.Parts = take(d, &d.slabParts, n)
		for i := range p.Parts {
			d.part(&p.Parts[i], depth+1)
		}
	}
	flags := d.byte()
	if flags&^3 != 0 {
		d.fail("bad part flags")
		return
	}
	if flags&1 != 0 {
		if e := take(d, &d.slabEnvs, 1); len(e) == 1 {
			p.Envelope = &e[0]
			d.envelope(p.Envelope)
		}
	}
	if flags&2 != 0 {
		if m := take(d, &d.slabParts, 1); len(m) == 1 {
			p.Message = &m[0]
			d.part(p.Message, depth+1)
		}
	}
}

// EnvelopeDecoder decodes only the Envelope of encoded Infos (FETCH
// ENVELOPE of a whole mailbox), reusing its address buffer from one call
// to the next. The zero value is ready to use.
type EnvelopeDecoder struct {
	addrs []Address
}

// Decode sets e to the envelope of the Info that Marshal encoded in b.
// Unlike UnmarshalInfo it copies nothing: the strings of e point into b,
// and the address lists into the decoder's buffer, so both are valid
// until b is modified or Decode is called again. Malformed input returns
// an error wrapping ErrBadInfo.
func (ed *EnvelopeDecoder) Decode(b []byte, e *Envelope) error {
	if len(b) < 3 || b[0] != codecMagic0 || b[1] != codecMagic1 {
		return fmt.Errorf("%w: bad magic", ErrBadInfo)
	}
	if b[2] != codecVersion && b[2] != codecV1 {
		return fmt.Errorf("%w: unknown version %d", ErrBadInfo, b[2])
	}
	d := decoder{s: unsafe.String(&b[0], len(b)), pos: 3}
	d.count(minPartSize)
	d.count(2)
	// The address count covers every envelope of the message, so it
	// bounds the top-level one.
	na := d.count(4)
	d.count(1)
	d.count(minEnvelopeSize)
	if d.err != nil {
		return d.err
	}
	if cap(ed.addrs) < na {
		ed.addrs = make([]Address, na)
	}
	d.slabAddrs = ed.addrs[:na]
	d.total = d.varint()
	d.envelope(e)
	return d.err
}

// references reads the References list, reusing buf.
func (d *decoder) references(buf []string) []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	refs := buf[:0]
	for i := 0; i < n && d.err == nil; i++ {
		refs = append(refs, d.str())
	}
	return refs
}

// skipAddresses reads past an address list.
func (d *decoder) skipAddresses() {
	v := d.uvarint()
	if v < 2 {
		return
	}
	if v-2 > uint64(len(d.s)-d.pos)/4 {
		d.fail("bad address count")
		return
	}
	for i := uint64(0); i < 4*(v-2) && d.err == nil; i++ {
		d.str()
	}
}

// ThreadFields are what THREAD (RFC 5256 §3) needs of a message.
type ThreadFields struct {
	MessageID string // raw Message-ID header (Envelope.MessageID)
	InReplyTo string // raw In-Reply-To header (Envelope.InReplyTo)
	Subject   string // decoded Subject
	// SentDate is Info.SentDate without its zone (the same instant);
	// zero when the Date header is missing or unparsable.
	SentDate   time.Time
	References []string
	// HasReferences is false for Infos encoded before References were
	// stored (codec version 1): References is then unknown, not empty,
	// and HeaderSize is the size of the message header to read them from.
	HasReferences bool
	HeaderSize    int64
}

// ThreadDecoder decodes only the ThreadFields of encoded Infos (THREAD
// over a whole mailbox), reusing its References buffer from one call to
// the next. The zero value is ready to use.
type ThreadDecoder struct {
	refs []string
}

// Decode sets t from the Info that Marshal encoded in b. Like
// EnvelopeDecoder it copies nothing: the strings of t point into b and
// t.References into the decoder's buffer, valid until b is modified or
// Decode is called again. The part tree is not read for current Infos;
// those of version 1 are decoded whole, as their fields follow it.
// Malformed input returns an error wrapping ErrBadInfo.
func (td *ThreadDecoder) Decode(b []byte, t *ThreadFields) error {
	if len(b) < 3 || b[0] != codecMagic0 || b[1] != codecMagic1 {
		return fmt.Errorf("%w: bad magic", ErrBadInfo)
	}
	switch b[2] {
	case codecVersion:
	case codecV1:
		info, err := UnmarshalInfo(b)
		if err != nil {
			return err
		}
		*t = ThreadFields{MessageID: info.Envelope.MessageID, InReplyTo: info.Envelope.InReplyTo,
			Subject: info.Subject, SentDate: info.SentDate, HeaderSize: info.Body.BodyOffset}
		return nil
	default:
		return fmt.Errorf("%w: unknown version %d", ErrBadInfo, b[2])
	}
	d := decoder{s: unsafe.String(&b[0], len(b)), pos: 3}
	for _, min := range []int{minPartSize, 2, 4, 1, minEnvelopeSize} {
		d.count(min)
	}
	d.total = d.varint()
	d.str() // Date
	d.str() // Subject
	for i := 0; i < 6; i++ {
		d.skipAddresses()
	}
	t.InReplyTo = d.str()
	t.MessageID = d.str()
	t.SentDate = d.sentDate()
	t.Subject = d.str()
	for i := 0; i < 4; i++ {
		d.str() // From, To, Cc, Bcc
	}
	td.refs = d.references(td.refs)
	t.References = td.refs
	t.HasReferences = true
	return d.err
}

// sentDate reads a time as time() does but without its zone, which would
// cost an allocation per message; comparisons only need the instant.
func (d *decoder) sentDate() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.fail("bad time")
		return time.Time{}
	}
	sec, nsec := d.varint(), d.varint()
	d.varint() // zone offset
	if nsec < 0 || nsec > 999999999 {
		d.fail("bad time")
		return time.Time{}
	}
	return time.Unix(sec, nsec)
}
