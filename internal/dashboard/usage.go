package dashboard

import (
	"net/http"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// usageView is the Usage page: the meters, the sender's backlog and the
// subjects with the most usage in the last 30 days.
type usageView struct {
	layout
	Meters   []store.Meter
	Sender   *store.UsageSenderStatus
	Subjects []store.SubjectUsageRow
}

func (d *Dashboard) usage(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	v := usageView{layout: d.frame(r, s, env, "usage", "Usage")}
	if v.Meters, err = st.ListMeters(r.Context(), env); err != nil {
		d.failErr(w, r, err)
		return
	}
	if v.Sender, err = st.UsageSender(r.Context(), env); err != nil {
		d.failErr(w, r, err)
		return
	}
	if v.Subjects, err = st.UsageBySubject(r.Context(), env, time.Now().AddDate(0, 0, -30), 50); err != nil {
		d.failErr(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "usage", v)
}
