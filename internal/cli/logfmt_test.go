package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRoundDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{1234567 * time.Microsecond, "1.2s"},
		{12345 * time.Millisecond, "12.3s"},
		{350400 * time.Microsecond, "350ms"},
		{123456 * time.Millisecond, "2m3s"},
		{1500 * time.Nanosecond, "2µs"},
		{0, "0s"},
	} {
		if got := roundDuration(c.d).String(); got != c.want {
			t.Errorf("roundDuration(%s) = %s, want %s", c.d, got, c.want)
		}
	}
}

// Text logs show durations as people read them; JSON logs as a number of
// seconds, also inside groups.
func TestLogDurations(t *testing.T) {
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, &slog.HandlerOptions{ReplaceAttr: textDurations})).
		Info("account scanned", "duration", 1234567*time.Microsecond, slog.Group("call", "wait", 350*time.Millisecond))
	if got := text.String(); !strings.Contains(got, "duration=1.2s call.wait=350ms") {
		t.Errorf("text log %q", got)
	}
	slog.New(slog.NewJSONHandler(&js, &slog.HandlerOptions{ReplaceAttr: jsonDurations})).
		Info("account scanned", "duration", 1234567*time.Microsecond, slog.Group("call", "wait", 350*time.Millisecond))
	var rec struct {
		Duration any `json:"duration"`
		Call     struct {
			Wait any `json:"wait"`
		} `json:"call"`
	}
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Duration != 1.235 || rec.Call.Wait != 0.35 {
		t.Errorf("JSON log %s: duration %v, wait %v; want seconds 1.235 and 0.35", js.String(), rec.Duration, rec.Call.Wait)
	}
}
