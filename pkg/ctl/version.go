package ctl

import (
	"context"
	"fmt"

	"github.com/podd-dev/podd/pkg/api"
)

// VersionOptions are podctl version's.
type VersionOptions struct {
	ClientVersion string
	Output        Format
}

// VersionInfo is what podctl version prints as JSON or YAML.
type VersionInfo struct {
	ClientVersion string `json:"clientVersion"`
	ServerVersion string `json:"serverVersion,omitempty"`
}

// Version prints the client's version, then the server's; when the server cannot be asked, it
// still prints the client's and returns the error.
func Version(ctx context.Context, c *api.Client, o VersionOptions, s Streams) error {
	info := VersionInfo{ClientVersion: o.ClientVersion}
	v, err := c.Version(ctx)
	if err == nil {
		info.ServerVersion = v.Version
	}
	if o.Output.structured() {
		if perr := Print(s.Out, o.Output, info, nil); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprintf(s.Out, "Client Version: %s\n", info.ClientVersion)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "Server Version: %s\n", info.ServerVersion)
	return nil
}
