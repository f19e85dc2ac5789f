// Package inflate decompresses a DEFLATE stream (RFC 1951) arriving over
// a network connection, for IMAP COMPRESS=DEFLATE (RFC 4978).
//
// Go's compress/flate hands out decoded data only when its window fills
// or at an empty stored block (the marker of a zlib Z_SYNC_FLUSH). A
// client that flushes with Z_PARTIAL_FLUSH (isync/mbsync) ends each
// command with an empty fixed-code block instead, whose last bits arrive
// only with the next command, so that reader sits on a complete command
// while it waits for more input, and the session stalls. This reader
// returns what it has decoded at the end of every block, and reads a
// Huffman code bit by bit, so that it never needs a byte beyond the
// block being decoded.
//
// It is written for small, interactive streams (commands, APPEND data);
// bit-by-bit decoding is slower than a table decoder but never waits for
// input it does not need.
package inflate

import (
	"bufio"
	"errors"
	"io"
)

// ErrCorrupt is returned for input that is not a valid DEFLATE stream.
var ErrCorrupt = errors.New("inflate: corrupt input")

const (
	windowSize = 1 << 15 // RFC 1951 §2: distances reach back 32 KiB
	maxMatch   = 258
	maxBits    = 15
	maxLitLen  = 288
	maxDist    = 30
)

// huffman is a canonical Huffman code (RFC 1951 §3.2.2) as counts of
// codes per length and the symbols in code order.
type huffman struct {
	count  [maxBits + 1]uint16
	symbol [maxLitLen]uint16
}

// build makes the code from the code lengths of the symbols. An
// over-subscribed set of lengths is an error; an incomplete one is
// accepted (its unused codes fail when met).
func (h *huffman) build(lengths []uint8) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l <= maxBits; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return ErrCorrupt
		}
	}
	var offs [maxBits + 1]uint16
	for l := 1; l < maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	return nil
}

// Tables of RFC 1951 §3.2.5: base and extra bits of length codes
// 257..285 and of distance codes 0..29.
var (
	lenBase   = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// clOrder is the order of the code length code lengths (§3.2.7).
	clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// fixedLit and fixedDist are the fixed codes of §3.2.6.
var fixedLit, fixedDist = func() (*huffman, *huffman) {
	var l [maxLitLen]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [maxDist]uint8
	for i := range d {
		d[i] = 5
	}
	lit, dist := new(huffman), new(huffman)
	lit.build(l[:])
	dist.build(d[:])
	return lit, dist
}()

// Reader decompresses a raw DEFLATE stream. Its memory (a 32 KiB window,
// two code tables and a 4 KiB input buffer) is allocated by NewReader.
type Reader struct {
	src   io.ByteReader
	bits  uint32 // bits read and not used, lowest first
	nbits uint

	win    [windowSize]byte
	wr, rd int64 // bytes decoded, bytes handed out

	inBlock bool
	final   bool // the current block is the last
	stored  int  // bytes left of a stored block
	typ     int  // block type of the current block
	lit     *huffman
	dist    *huffman
	dyn     [2]huffman // the dynamic codes of the current block
	err     error
}

// NewReader returns a Reader of the stream in r. Input is read through a
// 4 KiB buffer that takes what each read of r returns, so r should return
// what is available without waiting for more (as a net.Conn does).
func NewReader(r io.Reader) *Reader {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &Reader{src: br}
}

// Read returns decoded bytes. It returns as soon as a block ends with
// something decoded, without reading any further input.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if r.wr > r.rd {
			return r.copyOut(p), nil
		}
		if r.err != nil {
			return 0, r.err
		}
		r.step(len(p))
	}
}

// copyOut hands out pending decoded bytes from the window.
func (r *Reader) copyOut(p []byte) int {
	n := 0
	for n < len(p) && r.rd < r.wr {
		start := int(r.rd % windowSize)
		end := min(windowSize, start+int(r.wr-r.rd))
		c := copy(p[n:], r.win[start:end])
		n += c
		r.rd += int64(c)
	}
	return n
}

// step decodes until the current block ends, want bytes are pending, the
// window has no room for a longest match, or an error; it starts a new
// block first if none is open.
func (r *Reader) step(want int) {
	if !r.inBlock {
		if r.final {
			r.err = io.EOF
			return
		}
		if r.err = r.header(); r.err != nil {
			return
		}
	}
	for r.inBlock && r.err == nil && r.wr-r.rd < int64(want) && r.wr-r.rd <= windowSize-maxMatch {
		if r.typ == 0 {
			r.err = r.storedData()
		} else {
			r.err = r.symbol()
		}
	}
}

// header reads a block header (§3.2.3) and what follows it up to the data.
func (r *Reader) header() error {
	h, err := r.need(3)
	if err != nil {
		return err
	}
	r.final = h&1 == 1
	r.typ = int(h >> 1)
	switch r.typ {
	case 0:
		// §3.2.4: skip to a byte boundary, then LEN and NLEN.
		r.bits, r.nbits = 0, 0
		var b [4]byte
		for i := range b {
			if b[i], err = r.byte(); err != nil {
				return err
			}
		}
		n, nn := uint16(b[0])|uint16(b[1])<<8, uint16(b[2])|uint16(b[3])<<8
		if n != ^nn {
			return ErrCorrupt
		}
		r.stored = int(n)
	case 1:
		r.lit, r.dist = fixedLit, fixedDist
	case 2:
		if err := r.dynamic(); err != nil {
			return err
		}
		r.lit, r.dist = &r.dyn[0], &r.dyn[1]
	default:
		return ErrCorrupt
	}
	r.inBlock = true
	return nil
}

// dynamic reads the code lengths of a dynamic block (§3.2.7).
func (r *Reader) dynamic() error {
	h, err := r.need(14)
	if err != nil {
		return err
	}
	nlen, ndist, ncode := int(h&31)+257, int(h>>5&31)+1, int(h>>10)+4
	if nlen > 286 || ndist > maxDist {
		return ErrCorrupt
	}
	var lengths [maxLitLen + maxDist]uint8
	for i := 0; i < ncode; i++ {
		v, err := r.need(3)
		if err != nil {
			return err
		}
		lengths[clOrder[i]] = uint8(v)
	}
	var cl huffman
	if err := cl.build(lengths[:19]); err != nil {
		return err
	}
	lengths = [maxLitLen + maxDist]uint8{}
	for i := 0; i < nlen+ndist; {
		sym, err := r.decode(&cl)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var val uint8
		var rep uint32
		switch sym {
		case 16:
			if i == 0 {
				return ErrCorrupt
			}
			val = lengths[i-1]
			rep, err = r.need(2)
			rep += 3
		case 17:
			rep, err = r.need(3)
			rep += 3
		default:
			rep, err = r.need(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+int(rep) > nlen+ndist {
			return ErrCorrupt
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 { // no end-of-block code
		return ErrCorrupt
	}
	if err := r.dyn[0].build(lengths[:nlen]); err != nil {
		return err
	}
	return r.dyn[1].build(lengths[nlen : nlen+ndist])
}

// storedData copies bytes of a stored block.
func (r *Reader) storedData() error {
	if r.stored == 0 {
		r.inBlock = false
		return nil
	}
	b, err := r.byte()
	if err != nil {
		return err
	}
	r.put(b)
	r.stored--
	if r.stored == 0 {
		r.inBlock = false
	}
	return nil
}

// symbol decodes one literal, match or end of block (§3.2.5).
func (r *Reader) symbol() error {
	sym, err := r.decode(r.lit)
	if err != nil {
		return err
	}
	switch {
	case sym < 256:
		r.put(byte(sym))
		return nil
	case sym == 256:
		r.inBlock = false
		return nil
	case sym > 285:
		return ErrCorrupt
	}
	sym -= 257
	extra, err := r.need(uint(lenExtra[sym]))
	if err != nil {
		return err
	}
	length := int(lenBase[sym]) + int(extra)
	dsym, err := r.decode(r.dist)
	if err != nil {
		return err
	}
	if dsym >= maxDist {
		return ErrCorrupt
	}
	if extra, err = r.need(uint(distExtra[dsym])); err != nil {
		return err
	}
	d := int64(distBase[dsym]) + int64(extra)
	if d > r.wr {
		return ErrCorrupt // before the start of the stream
	}
	for range length {
		r.put(r.win[(r.wr-d)%windowSize])
	}
	return nil
}

func (r *Reader) put(b byte) {
	r.win[r.wr%windowSize] = b
	r.wr++
}

// decode reads one code of h bit by bit (canonical decoding: codes of
// each length are consecutive), so it reads no bit beyond the code.
func (r *Reader) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		b, err := r.need(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := int(h.count[l])
		if code < first {
			return 0, ErrCorrupt
		}
		if code-first < count {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, ErrCorrupt
}

// need returns the next n bits (n <= 16), reading only the bytes needed.
func (r *Reader) need(n uint) (uint32, error) {
	for r.nbits < n {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		r.bits |= uint32(b) << r.nbits
		r.nbits += 8
	}
	v := r.bits & (1<<n - 1)
	r.bits >>= n
	r.nbits -= n
	return v, nil
}

func (r *Reader) byte() (byte, error) {
	b, err := r.src.ReadByte()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}
