package dynamostore_test

import (
	"testing"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
	"github.com/callkit-records/callkit-records/shared/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newTable creates a table from template.yaml's CallsTable in DynamoDB Local.
func newTable(t *testing.T) (*dynamostore.Store, string) {
	t.Helper()
	c := testenv.DynamoDB(t)
	name := testenv.Name(t, "calls")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", name)
	return dynamostore.New(c, dynamostore.Options{Table: name}), name
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		c := testenv.DynamoDB(t)
		name := testenv.Name(t, "calls")
		testenv.CreateTableFromTemplate(t, c, "", "CallsTable", name)
		return dynamostore.New(c, dynamostore.Options{Table: name, RetentionDays: o.RetentionDays, Now: o.Now})
	})
}
