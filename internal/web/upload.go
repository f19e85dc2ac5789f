package web

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"time"
)

// The compose form's body is read part by part (mime/multipart's
// Reader, not ParseMultipartForm, which keeps up to 32 MiB in memory):
// text fields into a small bounded map, each file straight into a spool
// file on disk. The whole body is bounded by the message size limit
// (MaxBytesReader), so an upload past it is refused as soon as it
// crosses the line, not after it was stored.

const (
	maxUploadText  = 1 << 20 // all text fields together
	maxUploadFiles = 100
	uploadTimeout  = 15 * time.Minute // the server's 30 s read timeout is for pages, not uploads
)

var (
	errUploadCSRF  = errors.New("csrf")
	errUploadLarge = errors.New("too large")
	errUploadForm  = errors.New("bad form")
)

type upload struct {
	fields url.Values
	files  []spooled
}

type spooled struct {
	name, typ string
	f         *os.File
	size      int64
}

func (sp spooled) part() outPart {
	f := sp.f
	return outPart{Name: sp.name, Type: sp.typ, Open: func() (io.ReadCloser, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return io.NopCloser(f), nil
	}}
}

func (u *upload) cleanup() {
	for _, sp := range u.files {
		sp.f.Close()
		os.Remove(sp.f.Name())
	}
}

// readUpload reads the compose form. Its first part must be the CSRF
// token (the form puts it first; browsers send parts in tree order), so
// nothing of a forged request is spooled.
func readUpload(w http.ResponseWriter, r *http.Request, csrf string, limit int64) (*upload, error) {
	rc := http.NewResponseController(w)
	// Not every ResponseWriter can; then the server's timeouts stand.
	rc.SetReadDeadline(time.Now().Add(uploadTimeout))
	rc.SetWriteDeadline(time.Now().Add(uploadTimeout + time.Minute))
	// The text fields and multipart framing come on top of the message.
	r.Body = http.MaxBytesReader(w, r.Body, limit+maxUploadText)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errUploadForm
	}
	up := &upload{fields: url.Values{}}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != "csrf" {
		return nil, errUploadCSRF
	}
	tok, _ := io.ReadAll(io.LimitReader(p, 256))
	if csrf == "" || subtle.ConstantTimeCompare(tok, []byte(csrf)) != 1 {
		return nil, errUploadCSRF
	}
	text, total := int64(0), int64(0)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return up, nil
		}
		if err != nil {
			return up, uploadErr(err)
		}
		if p.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(p, maxUploadText-text+1))
			if err != nil {
				return up, uploadErr(err)
			}
			if text += int64(len(b)); text > maxUploadText {
				return up, errUploadLarge
			}
			up.fields.Add(p.FormName(), string(b))
			continue
		}
		if len(up.files) >= maxUploadFiles {
			return up, errUploadForm
		}
		n, err := up.spool(p, limit-total)
		if err != nil {
			return up, err
		}
		total += n
	}
}

// spool copies one file part to disk, at most room bytes.
func (up *upload) spool(p *multipart.Part, room int64) (int64, error) {
	f, err := os.CreateTemp("", "youju-upload-*")
	if err != nil {
		return 0, err
	}
	sp := spooled{name: p.FileName(), typ: p.Header.Get("Content-Type"), f: f}
	up.files = append(up.files, sp)
	n, err := io.Copy(f, io.LimitReader(p, room+1))
	if err != nil {
		return n, uploadErr(err)
	}
	if n > room {
		return n, errUploadLarge
	}
	up.files[len(up.files)-1].size = n
	if n == 0 {
		// An empty file input (no file chosen) may still send a part.
		up.files = up.files[:len(up.files)-1]
		f.Close()
		os.Remove(f.Name())
	}
	return n, nil
}

func uploadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errUploadLarge
	}
	return errUploadForm
}
