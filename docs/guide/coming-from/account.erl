%% account.erl: OTP has no event sourcing; a gen_server that logs each
%% event to a disk_log, syncs it, and replays the log at start.
-module(account).
-behaviour(gen_server).
-export([start_link/1, deposit/1, withdraw/1, balance/0, init/1, handle_call/3, handle_cast/2]).

start_link(File) -> gen_server:start_link({local, ?MODULE}, ?MODULE, File, []).
deposit(A) -> gen_server:call(?MODULE, {deposit, A}).
withdraw(A) -> gen_server:call(?MODULE, {withdraw, A}).
balance() -> gen_server:call(?MODULE, balance).

init(File) ->
    {ok, Log} = disk_log:open([{name, ?MODULE}, {file, File}]),
    {ok, {Log, replay(Log, start, 0)}}.
replay(Log, Cont, B) ->
    case disk_log:chunk(Log, Cont) of
        eof -> B;
        {Next, Events} -> replay(Log, Next, lists:foldl(fun apply_event/2, B, Events))
    end.
apply_event({deposited, A}, B) -> B + A;
apply_event({withdrawn, A}, B) -> B - A.

handle_call({deposit, A}, _From, S) -> persist({deposited, A}, S);
handle_call({withdraw, A}, _From, {_, B} = S) when A > B -> {reply, {error, insufficient_funds}, S};
handle_call({withdraw, A}, _From, S) -> persist({withdrawn, A}, S);
handle_call(balance, _From, {_, B} = S) -> {reply, B, S}.
handle_cast(_, S) -> {noreply, S}.

persist(Event, {Log, B}) ->
    ok = disk_log:log(Log, Event),
    ok = disk_log:sync(Log),
    {reply, {ok, apply_event(Event, B)}, {Log, apply_event(Event, B)}}.
