package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// GraphQL is a client of one GraphQL endpoint with a bearer token.
type GraphQL struct {
	URL   string // http://host:port/graphql
	Token string // "" for none
	HC    *http.Client
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// Do runs query with vars and decodes its data into out (nil to ignore
// it). A response with errors is an error naming the first.
func (g *GraphQL) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	status, raw, err := g.Post(ctx, body)
	if err != nil {
		return err
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("HTTP %d, not GraphQL: %.200s", status, raw)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
	}
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", status, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Data, out)
}

// Post sends a prepared request body (encoding it once outside a load
// loop keeps the client's CPU off the measurement) and returns the status
// and the response body.
func (g *GraphQL) Post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	resp, err := g.HC.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// CheckPage reports whether raw is a successful GraphQL response: JSON
// with data and without errors. It is cheap enough to run on every
// response of a load loop, so a fast stream of errors is never mistaken
// for a fast page.
func CheckPage(status int, raw []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", status, raw)
	}
	if bytes.Contains(raw, []byte(`"errors"`)) {
		return fmt.Errorf("errors in response: %.300s", raw)
	}
	if !bytes.Contains(raw, []byte(`"data"`)) {
		return errors.New("no data in response: " + strings.TrimSpace(string(raw[:min(len(raw), 200)])))
	}
	return nil
}
