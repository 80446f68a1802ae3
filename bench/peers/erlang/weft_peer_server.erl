%% A gen_server used by two benchmark workloads:
%%
%%  * ask:     the one server the clients call ({echo, X} -> X);
%%  * restart: the permanent child of weft_peer_sup, registered under a
%%             name; a `crash` cast makes it raise, a `ping` call answers
%%             `pong` once the supervisor has restarted it.
-module(weft_peer_server).
-behaviour(gen_server).

-export([start_link/0, start_link/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link() ->
    gen_server:start_link(?MODULE, [], []).

start_link(Name) ->
    gen_server:start_link(Name, ?MODULE, [], []).

init([]) ->
    {ok, no_state}.

handle_call({echo, X}, _From, State) ->
    {reply, X, State};
handle_call(ping, _From, State) ->
    {reply, pong, State}.

handle_cast(crash, _State) ->
    error(crash_requested_by_benchmark).
