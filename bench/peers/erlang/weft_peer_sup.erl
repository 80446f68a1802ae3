%% The supervisor of the `restart` workload: one_for_one, one permanent
%% weft_peer_server child registered locally as `weft_peer_child`.
%%
%% Restart intensity: the workload restarts the child exactly K times and
%% measures how fast that happens, so the supervisor must not give up during
%% the run. We allow K restarts per 1 second (the smallest period OTP
%% accepts). That never trips, but it is not free: OTP keeps one timestamp
%% per restart inside the period and walks that list on every restart
%% (supervisor:add_restart/1), which is the real cost of intensity tracking
%% in OTP and is deliberately left in the measurement.
-module(weft_peer_sup).
-behaviour(supervisor).

-export([start_link/1]).
-export([init/1]).

-define(CHILD_NAME, weft_peer_child).

start_link(Restarts) ->
    supervisor:start_link(?MODULE, Restarts).

init(Restarts) ->
    Flags = #{strategy => one_for_one,
              intensity => max(Restarts, 1),
              period => 1},
    Child = #{id => child,
              start => {weft_peer_server, start_link, [{local, ?CHILD_NAME}]},
              restart => permanent,
              shutdown => 1000,
              type => worker},
    {ok, {Flags, [Child]}}.
