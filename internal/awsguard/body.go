package awsguard

import (
	"bytes"
	"context"
	"io"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// body refuses a successful answer with an empty body before the SDK's
// deserializer reads it as an empty result, and watches the body for the
// elements check needs to see on the wire.
type body struct{}

func (*body) ID() string { return "KeywardenEmptyBody" }

func (*body) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	out middleware.DeserializeOutput, md middleware.Metadata, err error,
) {
	out, md, err = next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.Body == nil || resp.StatusCode < 200 || resp.StatusCode > 299 || resp.StatusCode == 204 {
		return out, md, err
	}
	var first [1]byte
	n, rerr := io.ReadFull(resp.Body, first[:])
	if n == 0 {
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return out, md, newError(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx),
				"answered HTTP %d with an empty body", resp.StatusCode)
		}
		return out, md, &Error{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx),
			Problem: "answer could not be read", Err: rerr}
	}
	var r io.Reader = io.MultiReader(&byteReader{b: first[0]}, resp.Body)
	if w, _ := middleware.GetStackValue(ctx, watchKey{}).(*watch); w != nil {
		w.r = r
		r = w
	}
	resp.Body = readCloser{r, resp.Body}
	return out, md, nil
}

// byteReader reads one byte.
type byteReader struct {
	b    byte
	done bool
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], r.done = r.b, true
	return 1, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type watchKey struct{}

// watch reports whether needle appears in the bytes read through it,
// without keeping them.
type watch struct {
	r      io.Reader
	needle []byte
	found  bool
	// tail holds the last len(needle)-1 bytes read, for a needle split
	// across two reads.
	tail []byte
	join []byte
}

func (w *watch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if w.found || n == 0 {
		return n, err
	}
	chunk := p[:n]
	keep := len(w.needle) - 1
	if len(w.tail) > 0 {
		w.join = append(append(w.join[:0], w.tail...), chunk[:min(keep, n)]...)
		w.found = bytes.Contains(w.join, w.needle)
	}
	w.found = w.found || bytes.Contains(chunk, w.needle)
	if n >= keep {
		w.tail = append(w.tail[:0], chunk[n-keep:]...)
	} else {
		w.tail = append(w.tail, chunk...)
		w.tail = w.tail[max(0, len(w.tail)-keep):]
	}
	return n, err
}
