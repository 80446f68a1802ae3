%% The gen_server of the `server` workload: a stateful server whose state
%% is the number of calls it has answered. `{echo, X}` answers X and counts
%% the call; `calls` answers the count (read once after the run, to check
%% that every call reached the server exactly once).
-module(weft_peer_counter).
-behaviour(gen_server).

-export([start_link/0]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link() ->
    gen_server:start_link(?MODULE, [], []).

init([]) ->
    {ok, 0}.

handle_call({echo, X}, _From, Calls) ->
    {reply, X, Calls + 1};
handle_call(calls, _From, Calls) ->
    {reply, Calls, Calls}.

handle_cast(_Message, Calls) ->
    {noreply, Calls}.
