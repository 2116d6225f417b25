package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/podd-dev/podd/pkg/pod"
)

// DefaultSocket is where podd listens unless told otherwise.
const DefaultSocket = "/run/podd/podd.sock"

// Client talks to podd over its unix socket. Every error it returns is an *Error, so that
// errdefs.IsNotFound and friends work on it, except the context's own error when ctx ends.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the podd listening on socketPath; it connects on first use.
func NewClient(socketPath string) *Client {
	c := &Client{socket: socketPath}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", socketPath)
			if err != nil {
				return nil, c.unreachable(ctx, err)
			}
			return conn, nil
		},
		// One local daemon: keep a few idle connections for podctl's concurrent waits.
		MaxIdleConnsPerHost: 8,
	}}
	return c
}

// Socket is the path of the socket c talks to.
func (c *Client) Socket() string { return c.socket }

func (c *Client) unreachable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := fmt.Sprintf("cannot reach podd at %s: ", c.socket)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		msg += "is podd running?"
	case errors.Is(err, fs.ErrPermission):
		msg += "permission denied (podctl needs the rights to open the socket)"
	default:
		msg += err.Error()
	}
	return &Error{Class: ClassUnavailable, Message: msg}
}

// transportError turns a failure of the round trip into an *Error.
func (c *Client) transportError(ctx context.Context, err error) error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return &Error{Class: ClassUnavailable, Message: fmt.Sprintf("podd at %s: %v", c.socket, err)}
}

// responseError reads the error of a response that is not a success.
func responseError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var er ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Error != nil && er.Error.Class != "" {
		return er.Error
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = "no message"
	}
	return &Error{Class: classOfStatus(resp.StatusCode), Message: fmt.Sprintf("podd answered %s: %s", resp.Status, msg)}
}

type request struct {
	method      string
	path        string // escaped
	query       url.Values
	body        io.Reader
	contentType string
	header      http.Header
}

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := "http://podd" + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, r.body)
	if err != nil {
		return nil, &Error{Class: ClassInvalid, Message: err.Error()}
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "podctl/"+Version)
	return req, nil
}

// send makes a request and returns the response if its status is a success.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp, nil
}

// do makes a request and decodes the JSON response into out (nil: discard it).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Class: ClassInternal, Message: fmt.Sprintf("decode podd's answer to %s %s: %v", r.method, r.path, err)}
	}
	return nil
}

func podPath(namespace, name string, sub ...string) string {
	p := "/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(name)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

func graceQuery(grace *int64) url.Values {
	if grace == nil {
		return nil
	}
	return url.Values{"grace": {strconv.FormatInt(*grace, 10)}}
}

// CreatePods creates the pods of a manifest (YAML or JSON, one or many documents), all or none.
func (c *Client) CreatePods(ctx context.Context, manifest []byte) ([]*pod.Pod, error) {
	var list PodList
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/pods", body: bytes.NewReader(manifest), contentType: "application/yaml"}, &list)
	return list.Items, err
}

// GetPod returns one pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	var p pod.Pod
	if err := c.do(ctx, request{method: http.MethodGet, path: podPath(namespace, name)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListPods lists the pods of a namespace, or of every namespace when namespace is "".
func (c *Client) ListPods(ctx context.Context, namespace string) ([]*pod.Pod, error) {
	var q url.Values
	if namespace != "" {
		q = url.Values{"namespace": {namespace}}
	}
	var list PodList
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/pods", query: q}, &list)
	return list.Items, err
}

// WaitStarted returns once every container of the pod has started, or the reason one did not
// (errdefs.ErrFailedPrecondition).
func (c *Client) WaitStarted(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	var p pod.Pod
	if err := c.do(ctx, request{method: http.MethodGet, path: podPath(namespace, name, "wait")}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// StopPod stops the pod's containers; grace nil means the pod's terminationGracePeriodSeconds.
func (c *Client) StopPod(ctx context.Context, namespace, name string, grace *int64) (*pod.Pod, error) {
	var p pod.Pod
	if err := c.do(ctx, request{method: http.MethodPost, path: podPath(namespace, name, "stop"), query: graceQuery(grace)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PatchMetadata changes the pod's labels and annotations without restarting it.
func (c *Client) PatchMetadata(ctx context.Context, namespace, name string, patch pod.MetadataPatch) (*pod.Pod, error) {
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	var p pod.Pod
	if err := c.do(ctx, request{method: http.MethodPatch, path: podPath(namespace, name, "metadata"), body: bytes.NewReader(body), contentType: "application/json"}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// RemovePod stops the pod if it runs and removes it.
func (c *Client) RemovePod(ctx context.Context, namespace, name string, grace *int64) error {
	return c.do(ctx, request{method: http.MethodDelete, path: podPath(namespace, name), query: graceQuery(grace)}, nil)
}

// ImportImage imports the images of an OCI or Docker archive.
func (c *Client) ImportImage(ctx context.Context, r io.Reader) ([]pod.Image, error) {
	var list ImageList
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/images/import", body: r, contentType: "application/x-tar"}, &list)
	return list.Items, err
}

// ListImages lists the images podd has.
func (c *Client) ListImages(ctx context.Context) ([]pod.Image, error) {
	var list ImageList
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/images"}, &list)
	return list.Items, err
}

// PullImage pulls an image from its registry.
func (c *Client) PullImage(ctx context.Context, ref string) (*pod.Image, error) {
	var img pod.Image
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/images/pull", query: url.Values{"ref": {ref}}}, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// RemoveImage removes an image.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/images", query: url.Values{"ref": {ref}}}, nil)
}

// Version returns the server's version.
func (c *Client) Version(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/version"}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
