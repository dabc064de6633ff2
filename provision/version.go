package provision

import (
	"context"
	"fmt"
)

// uploadedVersion is the id of the version an upload created and deployed. The PUT answer's
// deployment_id carries it for wrangler, but the SDK does not document that field (quirk
// deployment_id in docs/local-cloudflare.md); without it, the newest deployment names it.
func (e *Engine) uploadedVersion(ctx context.Context, accountID, name, fromAnswer string) (string, error) {
	if fromAnswer != "" {
		return fromAnswer, nil
	}
	id, err := e.currentVersion(ctx, accountID, name)
	if err != nil {
		return "", fmt.Errorf("find the uploaded version: %w", err)
	}
	return id, nil
}
