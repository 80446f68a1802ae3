%% counter.erl: the counter, a gen_server.
-module(counter).
-behaviour(gen_server).
-export([start_link/0, increment/1, get/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, 0, []).
increment(By) -> gen_server:cast(?MODULE, {increment, By}).
get() -> gen_server:call(?MODULE, get).

init(N) -> {ok, N}.
handle_call(get, _From, N) -> {reply, N, N}.
handle_cast({increment, By}, N) -> {noreply, N + By}.
