%% counter_sup.erl: one_for_one over the counter; then, in a shell:
%% counter_sup:start_link(), counter:increment(2), 2 = counter:get().
-module(counter_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).
init([]) ->
    {ok, {#{strategy => one_for_one}, [#{id => counter, start => {counter, start_link, []}}]}}.
