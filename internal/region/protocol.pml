/*
 * Promela model of one fieldd slot: the publish, drain, dispatch and park
 * protocol between writer processes and the slot's reader.
 *
 * Run it with scripts/spin-check, which builds and runs the spin verifier.
 *
 * Shared state of one slot, as laid out in shared memory:
 *   cells[RING]    the ring (internal/ring). A cell is one atomic word that
 *                  packs (lap, full, id), so the model reads and writes a cell
 *                  in one step.
 *   tail           ring position that producers claim and advance.
 *   pending[f]     pending bitmap (internal/region), one bit per field. Go
 *                  changes single bits with atomic or/and-not, and the model
 *                  reads the bits one at a time, which allows more
 *                  interleavings than a read of the whole word.
 *   overflow       set by a producer whose field did not fit in the ring.
 *   waiting        futex word. The reader sets it to 1 before it sleeps.
 *   version[f]     version of field f. A version change stands for a new
 *                  value, so the reader delivers a value by storing its version.
 *
 * Processes:
 *   writer   NFIELDS producers. Writer f owns field f and runs publish PUBS
 *            times. At most one writer dies, at any point between two shared
 *            memory operations.
 *   reader   the slot owner: drain, dispatch, park, in a loop.
 *   daemon   repairs the slot after a writer died (left out with -DNO_REPAIR).
 *
 * Futex: `asleep` is kernel state, not shared memory. FUTEX_WAIT(&waiting, 1)
 * checks the word and queues the reader in one step, as the kernel does under
 * its hash-bucket lock. The reader then blocks until a FUTEX_WAKE clears
 * `asleep`, whatever `waiting` contains by then. The model has no spurious
 * wake-ups. They only make the reader loop once more.
 *
 * Checked properties:
 *   - When nothing else can run (timeout) the reader is asleep in FUTEX_WAIT,
 *     and then delivered[f] == version[f] must hold for every field. With
 *     -DNO_REPAIR the check skips fields whose writer died in the middle of a
 *     publish. A lost wake-up shows up as a failure of this assertion.
 *   - Dispatch never reads a version older than the one it delivered, and it
 *     delivers each version of a field at most once.
 *   - A producer that finds the ring full finds a filled cell of the previous
 *     lap.
 *
 * NOTE: The results hold for the bounds below: two writers with one field
 * each, PUBS publishes per writer, MAX_TRIES append attempts and RING cells.
 * The model stores a value and its version in one step, so it does not check
 * how the Go code makes a value and its version visible together. It runs
 * drain, dispatch and park in sequence, but pkg/client dispatches on a
 * goroutine of its own, and the model does not cover that concurrency.
 *
 * Build-time options (spin -DNAME=VALUE):
 *   RING=n                  ring cells (default 2)
 *   PUBS=n                  publishes per writer (default 2)
 *   MAX_TRIES=n             append attempts (default 3)
 *   DRAIN_OVERFLOW_FIRST    drain clears the overflow flag and scans the
 *                           bitmap before it reads the ring
 *   NO_REPAIR               no daemon process
 *   REPAIR_WAKE_IF_WAITING  the daemon wakes the reader with the writer's
 *                           conditional wake instead of clearing `waiting` and
 *                           calling FUTEX_WAKE unconditionally
 *   BUG_NO_RECHECK          park sleeps without the recheck (known bug)
 *   BUG_NO_VERSION_CHECK    dispatch delivers without comparing versions
 *                           (known bug)
 */

#ifndef RING
#define RING 2
#endif

#ifndef PUBS
#define PUBS 2
#endif

#define NFIELDS 2

/*
 * Attempts of one ring append before the producer treats the ring as full.
 * The Go ring allows 64. The model allows fewer to stay small, so it skips
 * appends that succeed only after more attempts. With spin 6.5.2, RING=2 and
 * MAX_TRIES=6 also pass (35,457,729 states, 48 s).
 */
#ifndef MAX_TRIES
#define MAX_TRIES 3
#endif

/* Value of `dead` while no writer has died. */
#define NONE 255

typedef Cell {
	byte lap;
	bit filled;
	byte id
};

Cell cells[RING];
byte tail;
bit pending[NFIELDS];
bit overflow;
bit waiting;
bit asleep;
byte version[NFIELDS];
byte delivered[NFIELDS];

/* Field of the writer that died, or NONE. */
byte dead = NONE;

/* Set when the dead writer had bumped the version but not finished publish. */
bit died_mid[NFIELDS];

/*
 * Let the calling writer die here unless another writer already died. MID is
 * 1 inside a publish (after the version bump) and 0 between publishes.
 */
#define MAYBE_DIE(MID) \
	if \
	:: atomic { dead == NONE -> dead = f; died_mid[f] = MID }; goto died \
	:: skip \
	fi

/*
 * Writers are declared first, so their _pid values 0 .. NFIELDS-1 are the
 * field ids.
 */
active [NFIELDS] proctype writer()
{
	byte f = _pid;
	byte n;		/* publishes started */
	byte t;		/* tail snapshot */
	byte lap;
	byte i;		/* cell index */
	byte tries;
	bit ok;
	Cell c;		/* cell snapshot after a failed CAS */

	do
	:: n == PUBS -> break
	:: else ->
		MAYBE_DIE(0);

		/* Step 1: store the value with a new version. */
		version[f]++;
		n++;
		MAYBE_DIE(1);

		/* Step 2: a set pending bit means the reader has not dispatched f yet. */
		if
		:: pending[f] -> goto published
		:: else
		fi;
		MAYBE_DIE(1);

		/* Step 3: atomic fetch-or of the pending bit. */
		atomic { ok = pending[f]; pending[f] = 1 };
		if
		:: ok -> ok = 0; goto published
		:: else
		fi;
		MAYBE_DIE(1);

		/* Step 4: ring append. */
		tries = 0;
		do
		:: tries == MAX_TRIES -> goto ring_full
		:: else ->
			tries++;
			atomic { t = tail; lap = t / RING; i = t % RING };
			MAYBE_DIE(1);

			/* CAS cells[i] from (lap, empty) to (lap, full, f). */
			atomic {
				if
				:: cells[i].lap == lap && !cells[i].filled ->
					cells[i].filled = 1;
					cells[i].id = f;
					ok = 1
				:: else -> ok = 0
				fi
			};
			MAYBE_DIE(1);

			if
			:: ok ->
				/* Advance tail past the filled cell, unless another producer did. */
				atomic { if :: tail == t -> tail = t + 1 :: else fi; ok = 0 };
				goto appended
			:: else
			fi;

			/*
			 * Go's CompareAndSwap returns only a bool, so the producer loads
			 * the cell again, and it may have changed since the CAS.
			 */
			atomic { c.lap = cells[i].lap; c.filled = cells[i].filled };
			MAYBE_DIE(1);

			if
			:: c.lap == lap && c.filled ->
				/* Another producer filled the cell, so help advance tail. */
				atomic { if :: tail == t -> tail = t + 1 :: else fi };
				MAYBE_DIE(1)
			:: c.lap == lap && !c.filled ->
				/* The reader freed the cell after the CAS failed. */
				skip
			:: c.lap > lap ->
				/*
				 * The tail snapshot t is stale, or the producer that filled
				 * cell t has not advanced tail and the reader already freed
				 * the cell.
				 * NOTE: If that producer died, nothing advances tail, so every
				 * later append gives up after MAX_TRIES and sets overflow.
				 * Notifications still arrive, through the bitmap scan.
				 */
				skip
			:: c.lap < lap ->
				/* The cell still contains an entry of the previous lap. */
				assert(c.lap + 1 == lap);
				assert(c.filled);
				goto ring_full
			fi;
			atomic { c.lap = 0; c.filled = 0 }
		od;

ring_full:
		overflow = 1;

appended:
		atomic { t = 0; lap = 0; i = 0; tries = 0; c.lap = 0; c.filled = 0 };
		MAYBE_DIE(1);

		/* Step 5: wake the reader if it set `waiting` before it sleeps. */
		if
		:: waiting ->
			MAYBE_DIE(1);
			atomic { if :: waiting -> waiting = 0; ok = 1 :: else -> ok = 0 fi };
			if
			:: ok ->
				ok = 0;
				MAYBE_DIE(1);
				asleep = 0	/* FUTEX_WAKE */
			:: else
			fi
		:: else
		fi;

published:
		skip
	od;
died:
	skip
}

/* Load the cell at head into c, in one step. */
inline load_head_cell()
{
	atomic {
		c.lap = cells[head % RING].lap;
		c.filled = cells[head % RING].filled;
		c.id = cells[head % RING].id
	}
}

inline clear_head_cell_copy()
{
	atomic { c.lap = 0; c.filled = 0; c.id = 0 }
}

/* Add field g to the local FIFO unless it is already queued. */
inline enqueue(g)
{
	if
	:: !queued[g] -> queued[g] = 1; fifo!g
	:: else
	fi
}

/*
 * Clear the overflow flag and queue every field with a set pending bit. Like
 * the Go code, drain loads the flag and swaps it to 0 only if it was set.
 */
inline drain_overflow()
{
	if
	:: overflow -> atomic { ov = overflow; overflow = 0 }
	:: else
	fi;
	if
	:: ov ->
		ov = 0;
		f = 0;
		do
		:: f < NFIELDS ->
			if
			:: pending[f] -> enqueue(f)
			:: else
			fi;
			f++
		:: else -> break
		od;
		f = 0
	:: else
	fi
}

/*
 * Take up to RING entries from the ring, and stop early at a cell that is
 * not full for the lap of head.
 */
inline drain_ring()
{
	do
	:: taken == RING -> taken = 0; break
	:: else ->
		load_head_cell();
		if
		:: c.lap == head / RING && c.filled ->
			taken++;
			enqueue(c.id);
			/* Free the cell for the next lap with one store. */
			atomic {
				cells[head % RING].lap = head / RING + 1;
				cells[head % RING].filled = 0;
				cells[head % RING].id = 0;
				head++;
				clear_head_cell_copy()
			}
		:: else ->
			atomic { taken = 0; clear_head_cell_copy() };
			break
		fi
	od
}

/* Deliver every queued field. */
inline dispatch()
{
	do
	:: nempty(fifo) ->
		fifo?f;
		queued[f] = 0;
		pending[f] = 0;		/* atomic and-not */
		v = version[f];
#ifdef BUG_NO_VERSION_CHECK
		assert(v > delivered[f]);
		delivered[f] = v;
#else
		/*
		 * Dispatch reads the version after it clears the pending bit, so it
		 * can deliver a version whose ring entry or overflow scan is still to
		 * come. That later entry finds v == delivered[f] and is skipped. The
		 * assertion checks that v is never older, so Go's check
		 * `v > delivered` skips only such repeats.
		 */
		if
		:: v != delivered[f] ->
			assert(v > delivered[f]);
			delivered[f] = v
		:: else
		fi;
#endif
		atomic { f = 0; v = 0 }
	:: empty(fifo) -> break
	od
}

/* Assert that the reader delivered the last version of every field. */
inline check_delivered_all()
{
	f = 0;
	do
	:: f < NFIELDS ->
#ifdef NO_REPAIR
		assert(died_mid[f] || delivered[f] == version[f]);
#else
		assert(delivered[f] == version[f]);
#endif
		f++
	:: else -> break
	od
}

active proctype reader()
{
	byte head;
	byte taken;	/* entries taken by the current drain_ring */
	bit queued[NFIELDS];
	chan fifo = [NFIELDS] of { byte };
	byte f;
	byte v;
	bit ov;
	Cell c;

loop:
#ifdef DRAIN_OVERFLOW_FIRST
	drain_overflow();
	drain_ring();
#else
	drain_ring();
	drain_overflow();
#endif
	dispatch();

	/* Park. */
	waiting = 1;
#ifndef BUG_NO_RECHECK
	/*
	 * A producer appends or sets overflow before it reads `waiting`, and the
	 * reader sets `waiting` before this recheck. So either the producer reads
	 * waiting == 1 and wakes the reader, or the recheck finds the new entry or
	 * the overflow flag.
	 */
	load_head_cell();
	if
	:: c.lap == head / RING && c.filled ->
		clear_head_cell_copy();
		waiting = 0;
		goto loop
	:: else ->
		clear_head_cell_copy()
	fi;
	if
	:: overflow -> waiting = 0; goto loop
	:: else
	fi;
#endif

	/* FUTEX_WAIT(&waiting, 1) */
	atomic {
		if
		:: waiting -> asleep = 1
		:: else
		fi
	};
	if
	:: !asleep ->
		/* Park clears the word after the wait returns, as Go's Park does. */
		waiting = 0;
		goto loop
	:: timeout ->
		/* Every writer finished or died, and no process can wake the reader. */
		check_delivered_all()
	fi
}

#ifndef NO_REPAIR
/*
 * Repairs the slot once a writer has died. It marks the writer's field
 * pending, sets overflow so the next drain scans the bitmap, and wakes the
 * reader.
 */
active proctype daemon()
{
	byte f;
	bit ok;

end_idle:
	dead != NONE;
	f = dead;
	pending[f] = 1;		/* atomic fetch-or */
	overflow = 1;
#ifdef REPAIR_WAKE_IF_WAITING
	if
	:: waiting ->
		atomic { if :: waiting -> waiting = 0; ok = 1 :: else -> ok = 0 fi };
		if
		:: ok -> asleep = 0
		:: else
		fi
	:: else
	fi
#else
	/*
	 * A writer that died between its CAS of `waiting` to 0 and FUTEX_WAKE left
	 * the reader asleep with waiting == 0, so the wake must not depend on
	 * `waiting`. Clearing the word first makes a FUTEX_WAIT that has not
	 * started yet return at once.
	 */
	waiting = 0;
	asleep = 0		/* FUTEX_WAKE */
#endif
}
#endif
