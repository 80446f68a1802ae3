%% Erlang/OTP peer of weft-bench: the workloads of bench/SPEC.md written as
%% plain, idiomatic Erlang processes (and OTP behaviours where the workload
%% names one: supervisor for `restart`, gen_server for `ask` and `server`,
%% gen_statem for `statem`, pg for `pubsub`).
%%
%% Started by run.sh as
%%   erl -noshell +S N:N +P ... -run weft_peer_bench main <workload> [k=v ...]
%% and prints exactly one JSON line on stdout; diagnostics go to stderr.
%%
%% Every workload follows the same steps:
%%   1. remember the live process count (the SPEC's leak baseline);
%%   2. set up whatever is not being measured (rings, subscribers, servers);
%%   3. time the measured section with the monotonic clock;
%%   4. stop every process it started and wait until the process count is
%%      back to the baseline - a run that leaks fails loudly instead of
%%      printing a rate.
-module(weft_peer_bench).

-export([main/1]).

-define(HOUR_MS, 3600000).
-define(CALL_TIMEOUT_MS, 5000).
-define(LEAK_WAIT_MS, 60000).
%% statem: the state timeout armed on every entry (never reached in a run).
-define(STATE_TIMEOUT_MS, 60000).
%% statem: the feeder waits for the machine every this many events, so the
%% queue between them stays bounded (the same in every implementation).
-define(STATEM_SYNC_EVERY, 1000).

%% -- entry point -------------------------------------------------------------

main([Workload | Args]) ->
    Params = parse_args(Args),
    try run(Workload, Params) of
        Fields ->
            emit([{bench, Workload}, {impl, impl()},
                  {workers, erlang:system_info(schedulers_online)}
                  | Fields]),
            halt(0)
    catch
        throw:{skipped, Reason} ->
            emit([{bench, Workload}, {impl, impl()},
                  {workers, erlang:system_info(schedulers_online)},
                  {skipped, Reason}]),
            halt(0);
        Class:Error:Stack ->
            io:format(standard_error, "weft_peer_bench ~s: ~p:~p~n~p~n",
                      [Workload, Class, Error, Stack]),
            halt(1)
    end;
main([]) ->
    io:format(standard_error,
              "usage: run.sh <workload> [key=value ...] [workers=N]~n", []),
    halt(2).

run("pingpong", P)  -> pingpong(arg(n, P, 1000000));
run("fanin", P)     -> fanin(arg(p, P, 8), arg(m, P, 500000));
run("spawn", P)     -> spawn_children(arg(n, P, 1000000));
run("ring", P)      -> ring(arg(r, P, 1000), arg(h, P, 10000000));
run("idle", P)      -> idle(arg(n, P, 1000000));
run("parked", P)    -> parked(arg(n, P, 100000));
run("restart", P)   -> restart(arg(k, P, 100000));
run("ask", P)       -> ask(arg(n, P, 1000000), arg(c, P, 16));
run("persist", _)   ->
    throw({skipped, "OTP has no embedded durable event journal comparable "
                    "to weft's (disk_log has no per-command fsync "
                    "acknowledgement / group commit)"});
run("recover", _)   ->
    throw({skipped, "OTP has no persistent-actor recovery (journal replay "
                    "and snapshots) to compare with"});
run("broadcast", P) -> broadcast(arg(subs, P, 10000), arg(msgs, P, 100));
run("server", P)    -> server(arg(n, P, 1000000), arg(c, P, 16));
run("statem", P)    -> statem(arg(n, P, 10000000));
run("pubsub", P)    ->
    case arg(stalled, P, 0) of
        0 -> pubsub(arg(subs, P, 10000), arg(msgs, P, 100),
                    arg_fraction(match, P, 0.01));
        _ -> throw({skipped, "the stalled-subscriber case measures weft's "
                             "broker policy for a subscriber that stops "
                             "reading; Erlang's mailboxes are unbounded, so "
                             "there is no policy to measure"})
    end;
run("ask_backlog", P) -> ask_backlog(arg(n, P, 100000), arg(backlog, P, 1000));
run("saga", _)      ->
    throw({skipped, "OTP has no saga library on a durable journal to "
                    "compare with (a saga there is user code on disk_log "
                    "or mnesia)"});
run("router", _)    ->
    throw({skipped, "OTP has no router: a round-robin dispatcher is a "
                    "user-written process or a third-party pool library"});
run(Other, _)       -> error({unknown_workload, Other}).

%% -- 1. pingpong ---------------------------------------------------------------

pingpong(N) ->
    Base = process_count(),
    Driver = self(),
    Ponger = spawn(fun ponger/0),
    T0 = now_ns(),
    Pinger = spawn(fun() -> Ponger ! {self(), 0}, pinger(Ponger, N, Driver) end),
    receive {done, Pinger} -> ok end,
    Secs = seconds_since(T0),
    Ponger ! stop,
    await_baseline(Base),
    result(N, Secs, "roundtrips/s").

ponger() ->
    receive
        {From, X} -> From ! {self(), X}, ponger();
        stop -> ok
    end.

%% Having received the reply to X, X + 1 round trips are complete.
pinger(Ponger, N, Driver) ->
    receive
        {Ponger, X} when X + 1 >= N -> Driver ! {done, self()};
        {Ponger, X} -> Ponger ! {self(), X + 1}, pinger(Ponger, N, Driver)
    end.

%% -- 2. fanin ----------------------------------------------------------------

%% Erlang mailboxes are unbounded and senders are never suspended, so this
%% runs without the SPEC's capacity-1024 blocking back-pressure; the note
%% field says so and peak_rss_kb shows what the queue cost. The consumer keeps
%% its queue off heap, OTP's documented setting for a process that receives
%% floods (without it every garbage collection rescans the queue).
fanin(P, M) ->
    Base = process_count(),
    Driver = self(),
    Consumer = spawn_opt(fun() -> consume(P * M, Driver) end,
                         [{message_queue_data, off_heap}]),
    T0 = now_ns(),
    _ = [spawn(fun() -> produce(Consumer, M) end) || _ <- lists:seq(1, P)],
    receive {done, Consumer} -> ok end,
    Secs = seconds_since(T0),
    await_baseline(Base),
    result(P * M, Secs, "msgs/s")
        ++ [{note, "unbounded mailbox: Erlang has no bounded mailbox "
                   "with blocking back-pressure"}].

%% The message is a small integer: one 8-byte word.
produce(_Consumer, 0) -> ok;
produce(Consumer, I) -> Consumer ! I, produce(Consumer, I - 1).

consume(0, Driver) -> Driver ! {done, self()};
consume(Left, Driver) -> receive _ -> consume(Left - 1, Driver) end.

%% -- 3. spawn ----------------------------------------------------------------

spawn_children(N) ->
    Base = process_count(),
    Driver = self(),
    T0 = now_ns(),
    Parent = spawn(fun() -> spawn_parent(N, Driver) end),
    receive {done, Parent} -> ok end,
    Secs = seconds_since(T0),
    await_baseline(Base),
    result(N, Secs, "actors/s").

%% The parent's queue grows to n messages while it is still spawning;
%% keeping that queue off the process heap stops every garbage collection
%% of the parent from scanning it (OTP's documented remedy for processes
%% that receive many messages).
spawn_parent(N, Driver) ->
    process_flag(message_queue_data, off_heap),
    Self = self(),
    spawn_n(N, fun() -> Self ! child_done end),
    collect(child_done, N),
    Driver ! {done, Self}.

spawn_n(0, _Fun) -> ok;
spawn_n(N, Fun) -> spawn(Fun), spawn_n(N - 1, Fun).

collect(_Tag, 0) -> ok;
collect(Tag, N) -> receive Tag -> collect(Tag, N - 1) end.

%% -- 4. ring -----------------------------------------------------------------

ring(R, H) ->
    Base = process_count(),
    Driver = self(),
    Nodes = [spawn(fun() -> ring_await_next(Driver, H) end)
             || _ <- lists:seq(1, R)],
    _ = [Node ! {next, Next}
         || {Node, Next} <- lists:zip(Nodes, tl(Nodes) ++ [hd(Nodes)])],
    T0 = now_ns(),
    hd(Nodes) ! {token, 0},
    receive ring_done -> ok end,
    Secs = seconds_since(T0),
    _ = [Node ! stop || Node <- Nodes],
    await_baseline(Base),
    result(H, Secs, "hops/s").

ring_await_next(Driver, H) ->
    receive {next, Next} -> ring_node(Next, Driver, H) end.

ring_node(Next, Driver, H) ->
    receive
        {token, H} -> Driver ! ring_done, ring_node(Next, Driver, H);
        {token, Hops} -> Next ! {token, Hops + 1}, ring_node(Next, Driver, H);
        stop -> ok
    end.

%% -- 5. idle / 6. parked -----------------------------------------------------

%% An idle process sits in the receive of its loop, waiting for its first
%% message.
idle(N) ->
    resident(N, fun idle_loop/0).

idle_loop() ->
    receive stop -> ok end.

%% In Erlang every receive is a blocking receive on the process's own live
%% stack, so "suspended inside a handler" is a process that entered its
%% handler and waits there with a one-hour `after` (which also arms a timer
%% per process, as the SPEC's timeout requires).
parked(N) ->
    resident(N, fun parked_handler/0).

parked_handler() ->
    receive
        stop -> ok
    after ?HOUR_MS ->
        exit(parked_for_an_hour)
    end.

%% Spawn rate is the spawn loop alone; memory is measured once every process
%% has actually run up to its receive (status `waiting`). The driver's list
%% of pids (16 bytes per process) is part of the difference, as the handles
%% are in the other implementations.
resident(N, Fun) ->
    Base = process_count(),
    garbage_collect(),
    RssBefore = vm_rss_kb(),
    T0 = now_ns(),
    Pids = spawn_all(N, Fun, []),
    Secs = seconds_since(T0),
    lists:foreach(fun await_waiting/1, Pids),
    RssAfter = vm_rss_kb(),
    _ = [Pid ! stop || Pid <- Pids],
    await_baseline(Base),
    result(N, Secs, "actors/s")
        ++ [{bytes_per_actor, round((RssAfter - RssBefore) * 1024 / N)}].

spawn_all(0, _Fun, Acc) -> Acc;
spawn_all(N, Fun, Acc) -> spawn_all(N - 1, Fun, [spawn(Fun) | Acc]).

await_waiting(Pid) ->
    case erlang:process_info(Pid, status) of
        {status, waiting} -> ok;
        {status, _} -> erlang:yield(), await_waiting(Pid);
        undefined -> error({exited_early, Pid})
    end.

%% -- 7. restart --------------------------------------------------------------

%% See weft_peer_sup for the restart intensity. Crash reports are not
%% logged (primary logger level `none`): OTP checks the level before
%% building a report, so this removes only console I/O that would also
%% corrupt the single JSON line on stdout.
restart(K) ->
    Base = process_count(),
    ok = logger:set_primary_config(level, none),
    {ok, Sup} = weft_peer_sup:start_link(K),
    T0 = now_ns(),
    restart_cycles(K),
    Secs = seconds_since(T0),
    stop_linked(Sup),
    await_baseline(Base),
    result(K, Secs, "restarts/s").

restart_cycles(0) -> ok;
restart_cycles(K) ->
    Old = whereis(weft_peer_child),
    Ref = monitor(process, Old),
    gen_server:cast(Old, crash),
    receive {'DOWN', Ref, process, Old, _} -> ok end,
    await_new_name(Old),
    ping_until_answer(),
    restart_cycles(K - 1).

await_new_name(Old) ->
    case whereis(weft_peer_child) of
        Pid when is_pid(Pid), Pid =/= Old -> ok;
        _ -> erlang:yield(), await_new_name(Old)
    end.

ping_until_answer() ->
    try gen_server:call(weft_peer_child, ping, ?CALL_TIMEOUT_MS) of
        pong -> ok
    catch
        exit:_ -> erlang:yield(), ping_until_answer()
    end.

%% -- 8. ask ------------------------------------------------------------------

ask(N, C) ->
    Base = process_count(),
    {ok, Server} = weft_peer_server:start_link(),
    Driver = self(),
    Calls = N div C,
    T0 = now_ns(),
    Clients = [spawn(fun() -> ask_client(Server, Calls, Driver) end)
               || _ <- lists:seq(1, C)],
    _ = [receive {done, Client} -> ok end || Client <- Clients],
    Secs = seconds_since(T0),
    LatenciesNs = lists:append(
                    [receive {latencies, Client, L} -> L end
                     || Client <- Clients]),
    stop_linked(Server),
    await_baseline(Base),
    Sorted = lists:sort(LatenciesNs),
    result(C * Calls, Secs, "calls/s")
        ++ [{p50_us, percentile(Sorted, 0.50) / 1000},
            {p99_us, percentile(Sorted, 0.99) / 1000}].

ask_client(Server, Calls, Driver) ->
    Latencies = ask_calls(Server, Calls, []),
    Driver ! {done, self()},
    Driver ! {latencies, self(), Latencies}.

ask_calls(_Server, 0, Acc) -> Acc;
ask_calls(Server, Left, Acc) ->
    T0 = now_ns(),
    Left = gen_server:call(Server, {echo, Left}, ?CALL_TIMEOUT_MS),
    ask_calls(Server, Left - 1, [now_ns() - T0 | Acc]).

%% -- 15. ask_backlog ----------------------------------------------------------

%% One client with Backlog unrelated messages in its mailbox (queued before
%% `go`, which it receives selectively) makes N gen_server:calls; OTP's
%% receive marker (the call's fresh reference) keeps each call from
%% scanning the backlog. Afterwards the client takes the backlog in order.
ask_backlog(N, Backlog) ->
    Base = process_count(),
    {ok, Server} = weft_peer_server:start_link(),
    Driver = self(),
    Client = spawn(fun() -> backlog_client(Server, N, Backlog, Driver) end),
    _ = [Client ! {unrelated, I} || I <- lists:seq(0, Backlog - 1)],
    T0 = now_ns(),
    Client ! go,
    Latencies = receive {latencies, Client, L} -> L end,
    Secs = seconds_since(T0),
    receive {drained, Client} -> ok end,
    stop_linked(Server),
    await_baseline(Base),
    Sorted = lists:sort(Latencies),
    result(N, Secs, "calls/s")
        ++ [{backlog, Backlog},
            {p50_us, percentile(Sorted, 0.50) / 1000},
            {p99_us, percentile(Sorted, 0.99) / 1000}].

backlog_client(Server, N, Backlog, Driver) ->
    receive go -> ok end,
    Latencies = ask_calls(Server, N, []),
    Driver ! {latencies, self(), Latencies},
    _ = [receive {unrelated, I} -> ok end || I <- lists:seq(0, Backlog - 1)],
    Driver ! {drained, self()}.

percentile(Sorted, Q) ->
    Len = length(Sorted),
    lists:nth(max(1, min(Len, ceil(Q * Len))), Sorted).

%% -- 11. broadcast -----------------------------------------------------------

%% One publisher sends every message to each pid of its subscriber list - the
%% plain Erlang way to fan out to one topic's members.
broadcast(Subs, Msgs) ->
    Base = process_count(),
    Driver = self(),
    Subscribers = [spawn(fun() -> subscriber(Msgs, Driver) end)
                   || _ <- lists:seq(1, Subs)],
    Publisher = spawn(fun() -> receive go -> publish(Subscribers, 1, Msgs) end end),
    T0 = now_ns(),
    Publisher ! go,
    collect(subscriber_done, Subs),
    Secs = seconds_since(T0),
    await_baseline(Base),
    result(Subs * Msgs, Secs, "deliveries/s").

publish(_Subscribers, Seq, Msgs) when Seq > Msgs -> ok;
publish(Subscribers, Seq, Msgs) ->
    _ = [Sub ! {msg, Seq} || Sub <- Subscribers],
    publish(Subscribers, Seq + 1, Msgs).

subscriber(0, Driver) -> Driver ! subscriber_done;
subscriber(Left, Driver) -> receive {msg, _} -> subscriber(Left - 1, Driver) end.

%% -- 12. server ---------------------------------------------------------------

%% As `ask`, against a gen_server that keeps state (the count of calls it
%% answered); the count is checked after the run.
server(N, C) ->
    Base = process_count(),
    {ok, Server} = weft_peer_counter:start_link(),
    Driver = self(),
    Calls = N div C,
    T0 = now_ns(),
    Clients = [spawn(fun() -> ask_client(Server, Calls, Driver) end)
               || _ <- lists:seq(1, C)],
    _ = [receive {done, Client} -> ok end || Client <- Clients],
    Secs = seconds_since(T0),
    LatenciesNs = lists:append(
                    [receive {latencies, Client, L} -> L end
                     || Client <- Clients]),
    Counted = gen_server:call(Server, calls),
    Counted =:= C * Calls orelse error({server_counted, Counted, C * Calls}),
    stop_linked(Server),
    await_baseline(Base),
    Sorted = lists:sort(LatenciesNs),
    result(C * Calls, Secs, "calls/s")
        ++ [{p50_us, percentile(Sorted, 0.50) / 1000},
            {p99_us, percentile(Sorted, 0.99) / 1000}].

%% -- 13. statem --------------------------------------------------------------

%% A feeder casts `next` N times to the four-state gen_statem
%% (weft_peer_statem), waiting for it with a call every STATEM_SYNC_EVERY
%% events; each event is one transition, each entry arms a state timeout.
statem(N) ->
    Base = process_count(),
    {ok, Machine} = weft_peer_statem:start_link(?STATE_TIMEOUT_MS),
    Driver = self(),
    Feeder = spawn(fun() -> receive go -> feed(Machine, N, 0, Driver) end end),
    T0 = now_ns(),
    Feeder ! go,
    receive {done, Feeder} -> ok end,
    Secs = seconds_since(T0),
    stop_linked(Machine),
    await_baseline(Base),
    result(N, Secs, "transitions/s").

feed(_Machine, N, Sent, Driver) when Sent >= N ->
    Driver ! {done, self()};
feed(Machine, N, Sent, Driver) ->
    Batch = min(?STATEM_SYNC_EVERY, N - Sent),
    cast_next(Machine, Batch),
    Expected = Sent + Batch,
    Expected = gen_statem:call(Machine, transitions),
    feed(Machine, N, Expected, Driver).

cast_next(_Machine, 0) -> ok;
cast_next(Machine, K) -> gen_statem:cast(Machine, next), cast_next(Machine, K - 1).

%% -- 14. pubsub ----------------------------------------------------------------

%% Subjects are three tokens, bench.k<key>.m<i>, with key = i rem K and
%% K = round(1 / Match); subscriber j has key j rem K and, by j rem 3, the
%% pattern bench.k<key>.*, bench.k<key>.> or *.k<key>.* - each matches the
%% subjects of its key, a fraction Match of them.
%%
%% The topic registry is an OTP pg scope: every subscriber joins the group
%% named by its pattern (a token list). The publisher, for each message,
%% lists the groups (pg:which_groups), matches each pattern against the
%% subject and sends the message to the members of the groups that match:
%% one match per distinct pattern, not per subscriber. A message carries its
%% publish time; each subscriber reports its delivery latencies, then waits
%% for the end of the measurement (its exit, which pg handles, is not part
%% of it).
pubsub(Subs, Msgs, Match) ->
    K = pubsub_keys(Match),
    Base = process_count(),
    Scope = weft_peer_pubsub,
    {ok, ScopePid} = pg:start_link(Scope),
    Driver = self(),
    Subscribers =
        [begin
             Key = J rem K,
             Expect = pubsub_expected(Key, K, Msgs),
             Pid = spawn(fun() -> pubsub_subscriber(Expect, [], Driver) end),
             ok = pg:join(Scope, pubsub_pattern(J, Key), Pid),
             Pid
         end || J <- lists:seq(0, Subs - 1)],
    Deliveries = lists:sum([pubsub_expected(J rem K, K, Msgs)
                            || J <- lists:seq(0, Subs - 1)]),
    Publisher = spawn(fun() -> receive go -> pubsub_publish(Scope, 0, Msgs, K) end end),
    T0 = now_ns(),
    Publisher ! go,
    PerSubscriber = pubsub_collect(length(Subscribers), []),
    Secs = seconds_since(T0),
    LatenciesNs = lists:append(PerSubscriber),
    _ = [Sub ! stop || Sub <- Subscribers],
    stop_linked(ScopePid),
    await_baseline(Base),
    Sorted = lists:sort(LatenciesNs),
    result(Deliveries, Secs, "deliveries/s")
        ++ [{p50_us, percentile(Sorted, 0.50) / 1000},
            {p99_us, percentile(Sorted, 0.99) / 1000}].

pubsub_keys(Match) when Match > 0, Match =< 1 -> round(1 / Match);
pubsub_keys(Match) -> error({bad_match, Match, "must be in (0, 1]"}).

%% How many of messages 0..Msgs-1 have key Key.
pubsub_expected(Key, _K, Msgs) when Key >= Msgs -> 0;
pubsub_expected(Key, K, Msgs) -> (Msgs - 1 - Key) div K + 1.

pubsub_pattern(J, Key) ->
    KeyToken = <<"k", (integer_to_binary(Key))/binary>>,
    case J rem 3 of
        0 -> [<<"bench">>, KeyToken, <<"*">>];
        1 -> [<<"bench">>, KeyToken, <<">">>];
        2 -> [<<"*">>, KeyToken, <<"*">>]
    end.

pubsub_publish(_Scope, I, Msgs, _K) when I >= Msgs -> ok;
pubsub_publish(Scope, I, Msgs, K) ->
    Subject = [<<"bench">>, <<"k", (integer_to_binary(I rem K))/binary>>,
               <<"m", (integer_to_binary(I))/binary>>],
    Message = {msg, now_ns()},
    _ = [[Member ! Message || Member <- pg:get_members(Scope, Pattern)]
         || Pattern <- pg:which_groups(Scope), subject_matches(Pattern, Subject)],
    pubsub_publish(Scope, I + 1, Msgs, K).

%% NATS rules: `*` is one token, `>` one or more trailing tokens.
subject_matches([<<">">>], [_ | _]) -> true;
subject_matches([<<"*">> | Pattern], [_ | Subject]) -> subject_matches(Pattern, Subject);
subject_matches([Token | Pattern], [Token | Subject]) -> subject_matches(Pattern, Subject);
subject_matches([], []) -> true;
subject_matches(_, _) -> false.

%% In arrival order: a receive for one given subscriber would scan past
%% the others' reports.
pubsub_collect(0, Acc) -> Acc;
pubsub_collect(Left, Acc) ->
    receive {done, _Sub, L} -> pubsub_collect(Left - 1, [L | Acc]) end.

pubsub_subscriber(0, Latencies, Driver) ->
    Driver ! {done, self(), Latencies},
    receive stop -> ok end;
pubsub_subscriber(Left, Latencies, Driver) ->
    receive
        {msg, Published} ->
            pubsub_subscriber(Left - 1, [now_ns() - Published | Latencies], Driver)
    end.

%% -- helpers -----------------------------------------------------------------

result(N, Secs, Unit) ->
    [{n, N}, {seconds, Secs}, {rate, N / Secs}, {unit, Unit},
     {peak_rss_kb, status_kb("VmHWM")}].

now_ns() -> erlang:monotonic_time(nanosecond).

seconds_since(T0) -> (now_ns() - T0) / 1.0e9.

process_count() -> erlang:system_info(process_count).

%% The SPEC's leak rule: the live process count must return to what it was
%% before the workload started; exited processes may still be on their way
%% out, so wait (bounded) before declaring a leak.
await_baseline(Base) ->
    await_baseline(Base, erlang:monotonic_time(millisecond) + ?LEAK_WAIT_MS).

await_baseline(Base, Deadline) ->
    case process_count() of
        Base -> ok;
        Count ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error({leaked_processes, Count - Base});
                false -> timer:sleep(1), await_baseline(Base, Deadline)
            end
    end.

stop_linked(Pid) ->
    Ref = monitor(process, Pid),
    unlink(Pid),
    exit(Pid, shutdown),
    receive {'DOWN', Ref, process, Pid, _} -> ok end.

vm_rss_kb() -> status_kb("VmRSS").

status_kb(Field) ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "(?m)^" ++ Field ++ ":\\s+(\\d+) kB",
                           [{capture, all_but_first, list}]),
    list_to_integer(Kb).

impl() ->
    File = filename:join([code:root_dir(), "releases",
                          erlang:system_info(otp_release), "OTP_VERSION"]),
    case file:read_file(File) of
        {ok, Version} -> "erlang-" ++ string:trim(binary_to_list(Version));
        _ -> "erlang-" ++ erlang:system_info(otp_release)
    end.

arg(Key, Params, Default) ->
    case lists:keyfind(atom_to_list(Key), 1, Params) of
        {_, Value} -> list_to_integer(Value);
        false -> Default
    end.

%% A fraction such as match=0.01 (an integer is accepted too).
arg_fraction(Key, Params, Default) ->
    case lists:keyfind(atom_to_list(Key), 1, Params) of
        {_, Value} ->
            case string:to_float(Value) of
                {F, ""} -> F;
                _ -> float(list_to_integer(Value))
            end;
        false -> Default
    end.

parse_args(Args) ->
    [case string:split(Arg, "=") of
         [Key, Value] -> {Key, Value};
         _ -> error({bad_argument, Arg, "expected key=value"})
     end || Arg <- Args].

%% -- JSON (one flat object) --------------------------------------------------

emit(Fields) ->
    Body = lists:join(",", [[$", atom_to_list(K), "\":", json(V)]
                            || {K, V} <- Fields]),
    io:put_chars(standard_io, ["{", Body, "}\n"]).

json(V) when is_integer(V) -> integer_to_list(V);
json(V) when is_float(V) -> float_to_list(V, [{decimals, 6}, compact]);
json(V) when is_list(V) -> [$", escape(V), $"].

escape(S) ->
    lists:flatmap(fun($") -> "\\\"";
                     ($\\) -> "\\\\";
                     (C) -> [C]
                  end, S).
