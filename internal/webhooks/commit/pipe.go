package commit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A writer keeps one connection in pipeline mode and sends each batch as
// one implicit transaction (its statements, then Sync: PostgreSQL commits
// at the Sync, or rolls the whole batch back if a statement fails). It
// sends the next batch before it reads the results of the one before, so
// PostgreSQL runs batch after batch without waiting for the engine to
// answer the callers of the last one and gather the next; the connection
// runs them in order, so each sees what the one before committed.

// pipe is a writer's connection in pipeline mode.
type pipe struct {
	conn   *pgxpool.Conn
	pl     *pgconn.Pipeline
	stmts  map[string]*pgconn.StatementDescription
	eqb    pgx.ExtendedQueryBuilder
	cancel context.CancelFunc
	guard  *time.Timer // breaks the connection when a batch takes too long
	buf    []byte
	vals   [][]byte
	broken bool
}

// openPipe acquires a connection of pool, prepares the statements and
// starts pipeline mode.
func openPipe(pool *pgxpool.Pool, prepared []string) (*pipe, error) {
	ctx, cancel := context.WithTimeout(context.Background(), BatchTimeout)
	defer cancel()
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	pp := &pipe{conn: c, stmts: make(map[string]*pgconn.StatementDescription, len(prepared))}
	for i, sql := range prepared {
		sd, err := c.Conn().Prepare(ctx, fmt.Sprintf("billwire_webhooks_%d", i), sql)
		if err != nil {
			c.Release()
			return nil, err
		}
		pp.stmts[sql] = sd
	}
	pctx, pcancel := context.WithCancel(context.Background())
	pp.cancel = pcancel
	pp.guard = time.AfterFunc(time.Hour, pcancel)
	pp.guard.Stop()
	pp.pl = c.Conn().PgConn().StartPipeline(pctx)
	return pp, nil
}

// backend is the pid of the connection's server process.
func (pp *pipe) backend() uint32 { return pp.conn.Conn().PgConn().PID() }

// close ends pipeline mode and gives the connection back (a broken one is
// closed).
func (pp *pipe) close() {
	pp.guard.Stop()
	if err := pp.pl.Close(); err != nil {
		pp.broken = true
	}
	pp.cancel()
	if pp.broken {
		pp.conn.Conn().Close(context.Background()) //nolint:errcheck // broken anyway
	}
	pp.conn.Release()
}

// send queues a batch's statements and a Sync. The parameters of every
// statement are encoded before anything is queued: a batch goes whole or
// not at all.
func (pp *pipe) send(stmts []Statement) error {
	type encoded struct {
		sd                     *pgconn.StatementDescription
		params                 []span // of pp.buf; nil for NULL
		formats, resultFormats []int16
	}
	pp.buf = pp.buf[:0]
	enc := make([]encoded, len(stmts))
	for k, q := range stmts {
		sd := pp.stmts[q.SQL]
		if sd == nil {
			return fmt.Errorf("commit: statement not prepared: %.40s", q.SQL)
		}
		if err := pp.eqb.Build(pp.conn.Conn().TypeMap(), sd, q.Args); err != nil {
			return fmt.Errorf("encode the arguments of a batch statement: %w", err)
		}
		e := encoded{sd: sd, params: make([]span, len(pp.eqb.ParamValues)),
			formats: slices.Clone(pp.eqb.ParamFormats), resultFormats: slices.Clone(pp.eqb.ResultFormats)}
		for i, v := range pp.eqb.ParamValues {
			if v == nil {
				e.params[i] = span{-1, 0}
				continue
			}
			e.params[i] = span{len(pp.buf), len(v)}
			pp.buf = append(pp.buf, v...)
		}
		enc[k] = e
	}
	for _, e := range enc {
		pp.vals = pp.vals[:0]
		for _, s := range e.params {
			if s.off < 0 {
				pp.vals = append(pp.vals, nil)
			} else {
				pp.vals = append(pp.vals, pp.buf[s.off:s.off+s.n:s.off+s.n])
			}
		}
		pp.pl.SendQueryStatement(e.sd, pp.vals, e.formats, e.resultFormats)
	}
	if err := pp.pl.Sync(); err != nil {
		pp.broken = true
		return err
	}
	return nil
}

// span is a slice of a buffer that may still move.
type span struct{ off, n int }

// Row is a row of a batch's first statement.
type Row struct {
	rr   *pgconn.ResultReader
	vals [][]byte
}

// Len is the number of columns.
func (r Row) Len() int { return len(r.vals) }

// Bool reads column i as a boolean (NULL is false).
func (r Row) Bool(i int) bool {
	v := r.vals[i]
	if len(v) == 0 {
		return false
	}
	if r.rr.FieldDescriptions()[i].Format == pgx.BinaryFormatCode {
		return v[0] != 0
	}
	return v[0] == 't'
}

// read reads a sent batch's results: rows rows of its first statement,
// each handed to row, the other statements' completions (stmts in all),
// then the Sync that ends (commits) its transaction. An error is the
// transaction's: it was rolled back.
func (pp *pipe) read(stmts, rows int, row func(j int, r Row) error) (err error) {
	pp.guard.Reset(BatchTimeout)
	defer pp.guard.Stop()
	defer func() {
		if err != nil {
			pp.skip(err)
		}
	}()
	res, err := pp.pl.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("commit: unexpected pipeline result %T", res)
	}
	j := 0
	for rr.NextRow() {
		if j >= rows {
			rr.Close() //nolint:errcheck
			return fmt.Errorf("the first statement answered more than %d rows", rows)
		}
		if err := row(j, Row{rr, rr.Values()}); err != nil {
			rr.Close() //nolint:errcheck
			return err
		}
		j++
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	if j != rows {
		return fmt.Errorf("the first statement answered %d rows for %d items", j, rows)
	}
	for range stmts - 1 {
		res, err := pp.pl.GetResults()
		if err != nil {
			return err
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			if _, err := rr.Close(); err != nil {
				return err
			}
		} else {
			return fmt.Errorf("commit: unexpected pipeline result %T", res)
		}
	}
	res, err = pp.pl.GetResults()
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("commit: unexpected pipeline result %T", res)
	}
	return nil
}

// skip reads past the rest of a failed transaction's results, up to its
// Sync. A failure that is not PostgreSQL's (the connection broke) leaves
// the pipeline unusable.
func (pp *pipe) skip(cause error) {
	var pe *pgconn.PgError
	if !errors.As(cause, &pe) {
		pp.broken = true
		return
	}
	for {
		res, err := pp.pl.GetResults()
		if err != nil && !errors.As(err, &pe) {
			pp.broken = true
			return
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			return
		}
		if res == nil && err == nil {
			pp.broken = true // nothing more, and no Sync
			return
		}
	}
}
