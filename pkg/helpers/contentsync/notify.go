package contentsync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Webhook posts a JSON body naming the new version, with a timeout per attempt and retries with
// a doubling backoff; any status but 2xx is a failure.
type Webhook struct {
	URL     string
	Client  *http.Client
	Retries int
	Backoff time.Duration
}

// Post tells the webhook about version id. It returns how many attempts it made.
func (w *Webhook) Post(ctx context.Context, id string) (int, error) {
	body, _ := json.Marshal(map[string]string{"version": id})
	backoff := w.Backoff
	var last error
	for attempt := 1; ; attempt++ {
		last = w.post(ctx, body, id)
		if last == nil {
			return attempt, nil
		}
		if attempt > w.Retries || ctx.Err() != nil {
			return attempt, fmt.Errorf("--webhook %s: %d attempts: %w", w.URL, attempt, last)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return attempt, fmt.Errorf("--webhook %s: %w", w.URL, ctx.Err())
		}
		backoff *= 2
	}
}

func (w *Webhook) post(ctx context.Context, body []byte, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Sync-Version", id)
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
