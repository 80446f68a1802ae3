%% The gen_statem of the `statem` workload: four states, `one` -> `two` ->
%% `three` -> `four` -> `one`, each left on the event `next` (a cast).
%% Entering a state arms a state timeout (the state_enter call returns a
%% state_timeout action); the next event changes the state, which cancels
%% it (gen_statem cancels a state_timeout on every state change). The
%% timeout is long enough never to fire during a run; if it does, the
%% machine stops with an error and the run fails.
%%
%% Data is the number of transitions made; the call `transitions` answers
%% it without changing state (so it leaves the state timeout armed).
-module(weft_peer_statem).
-behaviour(gen_statem).

-export([start_link/1]).
-export([init/1, callback_mode/0, one/3, two/3, three/3, four/3]).

start_link(StateTimeoutMs) ->
    gen_statem:start_link(?MODULE, StateTimeoutMs, []).

init(StateTimeoutMs) ->
    {ok, one, {StateTimeoutMs, 0}}.

callback_mode() ->
    [state_functions, state_enter].

one(Type, Event, Data) -> step(Type, Event, Data, two).
two(Type, Event, Data) -> step(Type, Event, Data, three).
three(Type, Event, Data) -> step(Type, Event, Data, four).
four(Type, Event, Data) -> step(Type, Event, Data, one).

step(enter, _Previous, {TimeoutMs, _}, _Next) ->
    {keep_state_and_data, [{state_timeout, TimeoutMs, expired}]};
step(cast, next, {TimeoutMs, Transitions}, Next) ->
    {next_state, Next, {TimeoutMs, Transitions + 1}};
step({call, From}, transitions, {_, Transitions}, _Next) ->
    {keep_state_and_data, [{reply, From, Transitions}]};
step(state_timeout, expired, _Data, _Next) ->
    error(state_timeout_fired_during_the_run).
