package calls

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// Stats is one group of a campaign's calls.
type Stats struct {
	// Key is the agent's id (empty for calls nobody took) or the day, 2006-01-02.
	Key     string
	AgentID *pulid.ID
	Day     *time.Time
	Total   int
	// Answered calls were taken on this side; Missed nobody took.
	Answered           int
	Missed             int
	AverageTalkSeconds float64
}

// StatsQuery asks for a campaign's calls that started in [From, To),
// grouped ByDay (in Zone) or by agent.
type StatsQuery struct {
	CampaignID pulid.ID
	From, To   time.Time
	ByDay      bool
	// Zone names the time zone days are counted in (empty: UTC).
	Zone string
}

// maxDays bounds a by-day report: a row per day.
const maxDays = 366

// A call counts when it started (or, never started, when it was logged).
const statsSQL = `
SELECT %s AS key,
	count(*) AS total,
	count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
	count(*) FILTER (WHERE missed) AS missed,
	COALESCE(avg(duration) FILTER (WHERE answered_at IS NOT NULL), 0) AS talk
FROM calls
WHERE campaign_id = $1 AND COALESCE(started_at, created_at) >= $2 AND COALESCE(started_at, created_at) < $3
GROUP BY 1
ORDER BY 1`

// Stats counts calls in SQL.
func (s *Service) Stats(ctx context.Context, q StatsQuery) ([]*Stats, error) {
	if !q.From.Before(q.To) {
		return nil, apperr.Input("to", "must be after from")
	}
	zone := q.Zone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return nil, apperr.Input("timeZone", "%q is not a time zone name (Asia/Ho_Chi_Minh, UTC, ...)", q.Zone)
	}
	if q.ByDay && q.To.Sub(q.From) > maxDays*24*time.Hour {
		return nil, apperr.Input("to", "a report by day covers at most %d days", maxDays)
	}
	// The campaign must be the viewer's; the SQL below is not filtered by privacy.
	if _, err := s.client.Campaign.Get(ctx, q.CampaignID); err != nil {
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "campaignID", Message: fmt.Sprintf("campaign %s not found", q.CampaignID), Kind: apperr.ErrNotFound}
		}
		return nil, err
	}
	key, args := "COALESCE(agent_id, '')", []any{string(q.CampaignID), q.From, q.To}
	if q.ByDay {
		key, args = "to_char(COALESCE(started_at, created_at) AT TIME ZONE $4, 'YYYY-MM-DD')", append(args, zone)
	}
	rows, err := s.client.QueryContext(ctx, fmt.Sprintf(statsSQL, key), args...)
	if err != nil {
		return nil, fmt.Errorf("call statistics: %w", err)
	}
	defer rows.Close()
	var out []*Stats
	for rows.Next() {
		st := &Stats{}
		var talk sql.NullFloat64
		if err := rows.Scan(&st.Key, &st.Total, &st.Answered, &st.Missed, &talk); err != nil {
			return nil, err
		}
		st.AverageTalkSeconds = talk.Float64
		switch {
		case q.ByDay:
			d, err := time.ParseInLocation("2006-01-02", st.Key, loc)
			if err != nil {
				return nil, err
			}
			st.Day = &d
		case st.Key != "":
			id := pulid.ID(st.Key)
			st.AgentID = &id
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
