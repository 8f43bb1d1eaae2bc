// Package rule holds the privacy rules of the ent schema: who may read and write
// what. They run on every query and mutation, so no resolver can forget them.
//
// Reads: admins see everything; members see the rows of campaigns they belong to.
// Writes: a campaign's rows are written by its members; connections and members
// only by its MANAGERs; campaigns and users by admins (a user may edit itself).
// Background work (webhook ingest, bootstrap) runs with privacy.DecisionContext(ctx, privacy.Allow).
package rule

import (
	"context"
	"database/sql"
	"fmt"

	"entgo.io/ent/entql"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaign"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/predicate"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/user"
)

// Role is the least campaign role a write needs.
type Role int

// Roles, weakest first.
const (
	// Member is any member of the campaign: AGENTs and MANAGERs.
	Member Role = iota
	// Manager is a MANAGER of the campaign.
	Manager
)

func denyUnauthenticated() error {
	return fmt.Errorf("%w: %w", privacy.Deny, apperr.ErrUnauthenticated)
}

// ReadPolicy is the query policy of every entity.
func ReadPolicy() privacy.QueryPolicy {
	return privacy.QueryPolicy{filterVisible(), privacy.AlwaysAllowRule()}
}

// filterVisible narrows every query of a member to the campaigns it belongs to.
func filterVisible() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := auth.FromContext(ctx)
		if v == nil {
			return denyUnauthenticated()
		}
		if v.Admin {
			return privacy.Skip
		}
		if err := restrict(f, memberOf(v.UserID, Member), v.UserID); err != nil {
			return err
		}
		return privacy.Skip
	})
}

// memberOf matches campaigns where uid holds at least role.
func memberOf(uid pulid.ID, role Role) predicate.Campaign {
	preds := []predicate.CampaignMember{campaignmember.UserID(uid)}
	if role == Manager {
		preds = append(preds, campaignmember.RoleEQ(campaignmember.RoleMANAGER))
	}
	return campaign.HasMembersWith(preds...)
}

// restrict adds "belongs to a campaign matching in" to a query or bulk mutation filter.
func restrict(f privacy.Filter, in predicate.Campaign, uid pulid.ID) error {
	switch f := f.(type) {
	case *ent.CampaignFilter:
		f.WhereHasMembersWith(campaignmember.HasCampaignWith(in))
	case *ent.CampaignMemberFilter:
		f.WhereHasCampaignWith(in)
	case *ent.ConnectionFilter:
		f.WhereHasCampaignWith(in)
	case *ent.ContactFilter:
		f.WhereHasCampaignWith(in)
	case *ent.ConversationFilter:
		f.WhereHasCampaignWith(in)
	case *ent.MessageFilter:
		f.WhereHasCampaignWith(in)
	case *ent.CallFilter:
		f.WhereHasCampaignWith(in)
	case *ent.CallEventFilter:
		f.WhereHasCampaignWith(in)
	case *ent.WidgetStatFilter:
		f.WhereHasCampaignWith(in)
	case *ent.TagFilter:
		f.WhereHasCampaignWith(in)
	case *ent.WebhookEventFilter:
		f.WhereHasCampaignWith(in)
	case *ent.UserFilter:
		// Members see themselves and the people they share a campaign with
		// (assignees, senders, colleagues).
		f.Where(entql.Or(
			entql.FieldEQ(user.FieldID, string(uid)),
			entql.HasEdgeWith(user.EdgeMemberships,
				entql.HasEdgeWith(campaignmember.EdgeCampaign,
					entql.HasEdgeWith(campaign.EdgeMembers, entql.FieldEQ(campaignmember.FieldUserID, string(uid))))),
		))
	default:
		return privacy.Denyf("no access rule for %T", f)
	}
	return nil
}

// WritePolicy is the mutation policy of a campaign-scoped entity: creating,
// changing or deleting its rows needs the given role in the row's campaign.
// Deleting always needs Manager.
func WritePolicy(role Role) privacy.MutationPolicy {
	return privacy.MutationPolicy{campaignWrite(role), privacy.AlwaysAllowRule()}
}

func campaignWrite(role Role) privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v := auth.FromContext(ctx)
		if v == nil {
			return denyUnauthenticated()
		}
		if v.Admin {
			return privacy.Skip
		}
		need := role
		if m.Op().Is(ent.OpDelete | ent.OpDeleteOne) {
			need = Manager
		}
		// Bulk changes are narrowed to the rows the viewer may change.
		if m.Op().Is(ent.OpUpdate | ent.OpDelete) {
			return privacy.FilterFunc(func(_ context.Context, f privacy.Filter) error {
				if err := restrict(f, memberOf(v.UserID, need), v.UserID); err != nil {
					return err
				}
				return privacy.Skip
			}).EvalMutation(ctx, m)
		}
		cid, err := campaignOf(ctx, m)
		if err != nil {
			return err
		}
		return checkRole(ctx, m, cid, v.UserID, need)
	})
}

// checkRole denies unless uid holds need in campaign cid. A campaign the viewer
// does not belong to is reported as not found, so ids of other tenants leak nothing.
func checkRole(ctx context.Context, m ent.Mutation, cid, uid pulid.ID, need Role) error {
	client := clientOf(m)
	mem, err := client.CampaignMember.Query().
		Where(campaignmember.CampaignID(cid), campaignmember.UserID(uid)).
		Only(privacy.DecisionContext(ctx, privacy.Allow))
	if ent.IsNotFound(err) {
		return fmt.Errorf("%w: %w", privacy.Deny, apperr.NotFoundf("campaign %s not found", cid))
	}
	if err != nil {
		return fmt.Errorf("%w: checking membership: %w", privacy.Deny, err)
	}
	if need == Manager && mem.Role != campaignmember.RoleMANAGER {
		return fmt.Errorf("%w: %w", privacy.Deny, apperr.Forbiddenf("only a MANAGER of the campaign may do this"))
	}
	return privacy.Skip
}

// campaignOf finds the campaign a single-row mutation touches: from the new
// row's campaign_id on create, from the stored row otherwise.
func campaignOf(ctx context.Context, m ent.Mutation) (pulid.ID, error) {
	if m.Op().Is(ent.OpCreate) {
		withCampaign, ok := m.(interface{ CampaignID() (pulid.ID, bool) })
		if !ok {
			return "", privacy.Denyf("%s has no campaign", m.Type())
		}
		cid, ok := withCampaign.CampaignID()
		if !ok {
			return "", privacy.Denyf("%s created without a campaign", m.Type())
		}
		return cid, nil
	}
	withID, ok := m.(interface{ ID() (pulid.ID, bool) })
	if !ok {
		return "", privacy.Denyf("%s has no id", m.Type())
	}
	id, ok := withID.ID()
	if !ok {
		return "", privacy.Denyf("%s without an id", m.Type())
	}
	if m.Type() == ent.TypeCampaign {
		return id, nil
	}
	// A row of a campaign the viewer is not in is reported as not found.
	cid, err := storedCampaign(ctx, m, id)
	if ent.IsNotFound(err) {
		return "", fmt.Errorf("%w: %w", privacy.Deny, apperr.NotFoundf("%s %s not found", m.Type(), id))
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", privacy.Deny, err)
	}
	return cid, nil
}

// storedCampaign reads the campaign_id of the stored row id of any
// campaign-scoped entity, in the mutation's own transaction. It reads the
// column directly: the typed queries would apply GraphQL field collection
// and might not select it. Visibility is settled by the membership check that
// follows (a campaign the viewer is not in is "not found").
func storedCampaign(ctx context.Context, m ent.Mutation, id pulid.ID) (pulid.ID, error) {
	table, err := ent.IDToType(ctx, id)
	if err != nil {
		return "", err
	}
	q, ok := m.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return "", fmt.Errorf("%s cannot run queries", m.Type())
	}
	rows, err := q.QueryContext(ctx, `SELECT campaign_id FROM "`+table+`" WHERE id = $1`, id)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", err
		}
		return "", &ent.NotFoundError{}
	}
	var cid sql.NullString
	if err := rows.Scan(&cid); err != nil {
		return "", err
	}
	if !cid.Valid {
		return "", &ent.NotFoundError{}
	}
	return pulid.ID(cid.String), rows.Err()
}

func clientOf(m ent.Mutation) *ent.Client {
	return m.(interface{ Client() *ent.Client }).Client()
}

// CampaignPolicy governs campaigns: admins create and delete them; MANAGERs
// of a campaign may change it (rename, archive).
func CampaignPolicy() privacy.MutationPolicy {
	return privacy.MutationPolicy{
		privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
			v := auth.FromContext(ctx)
			switch {
			case v == nil:
				return denyUnauthenticated()
			case v.Admin:
				return privacy.Skip
			case m.Op().Is(ent.OpUpdateOne):
				cid, err := campaignOf(ctx, m)
				if err != nil {
					return err
				}
				if _, err := clientOf(m).Campaign.Query().Where(campaign.ID(cid)).Only(ctx); ent.IsNotFound(err) {
					return fmt.Errorf("%w: %w", privacy.Deny, apperr.NotFoundf("campaign %s not found", cid))
				}
				return checkRole(ctx, m, cid, v.UserID, Manager)
			default:
				return fmt.Errorf("%w: %w", privacy.Deny, apperr.Forbiddenf("only administrators may create or delete campaigns"))
			}
		}),
		privacy.AlwaysAllowRule(),
	}
}

// UserPolicy governs accounts: admins manage them; a user may change its own
// name and password, never its role.
func UserPolicy() privacy.MutationPolicy {
	return privacy.MutationPolicy{
		privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
			v := auth.FromContext(ctx)
			switch {
			case v == nil:
				return denyUnauthenticated()
			case v.Admin:
				return privacy.Skip
			}
			id, ok := m.ID()
			if m.Op().Is(ent.OpUpdateOne) && ok && id == v.UserID {
				if _, changesRole := m.Role(); !changesRole {
					return privacy.Skip
				}
			}
			return fmt.Errorf("%w: %w", privacy.Deny, apperr.Forbiddenf("only administrators may manage users"))
		}),
		privacy.AlwaysAllowRule(),
	}
}

// SystemOnly is the mutation policy of rows only background work writes (the webhook journal).
func SystemOnly() privacy.MutationPolicy {
	return privacy.MutationPolicy{privacy.AlwaysDenyRule()}
}
