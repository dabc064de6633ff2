package cfapi

import (
	"reflect"
	"strings"
	"testing"

	// Tests only: the binary must not link the SDK's root package (cmd/flareform guards it).
	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/ai"
	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// The helpers must build exactly the params cloudflare.F would, so the SDK sends the same
// request either way.
func TestSDKParamsMatchCloudflareF(t *testing.T) {
	if got, want := accountParams[workers.ScriptGetParams]("acc-1"),
		(workers.ScriptGetParams{AccountID: cloudflare.F("acc-1")}); !reflect.DeepEqual(got, want) {
		t.Errorf("accountParams = %+v, want %+v", got, want)
	}

	got := sdkParams(func(p *workers.ScriptDeploymentNewParams) {
		setParam(&p.AccountID, "acc-1")
		setParam(&p.Force, true)
		setParam(&p.Deployment.Strategy, workers.DeploymentStrategyPercentage)
		setParam(&p.Deployment.Versions, []workers.DeploymentVersionParam{sdkParams(func(v *workers.DeploymentVersionParam) {
			setParam(&v.VersionID, "v-1")
			setParam(&v.Percentage, 100.0)
		})})
	})
	want := workers.ScriptDeploymentNewParams{
		AccountID: cloudflare.F("acc-1"),
		Force:     cloudflare.F(true),
		Deployment: workers.DeploymentParam{
			Strategy: cloudflare.F(workers.DeploymentStrategyPercentage),
			Versions: cloudflare.F([]workers.DeploymentVersionParam{{
				VersionID:  cloudflare.F("v-1"),
				Percentage: cloudflare.F(100.0),
			}}),
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sdkParams = %+v, want %+v", got, want)
	}
	// The wire form is what matters to the API: the same JSON body.
	gotJSON, err := got.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := want.MarshalJSON()
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("body = %s, want %s", gotJSON, wantJSON)
	}

	models := sdkParams(func(p *ai.ModelListParams) { setParam(&p.Page, int64(2)) })
	if q := models.URLQuery().Encode(); q != "page=2" {
		t.Errorf("query = %q, want page=2", q)
	}
}

// A value of the wrong type is a programming error: it must fail loudly on the first call,
// naming the types, rather than send a request without the field.
func TestSDKParamsWrongTypePanics(t *testing.T) {
	for name, build := range map[string]func(){
		"int for int64": func() {
			sdkParams(func(p *ai.ModelListParams) { setParam(&p.PerPage, 1) })
		},
		"not a field": func() {
			var s string
			setParam(&s, "x")
		},
		"no AccountID": func() { accountParams[workers.DeploymentVersionParam]("acc-1") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.HasPrefix(r.(string), "cfapi: ") {
					t.Errorf("recovered %v, want a cfapi panic", r)
				}
			}()
			build()
		})
	}
}
