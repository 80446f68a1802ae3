%% erlang-echo: a gen_tcp line echo server, the OTP peer of weft-echo
%% (samples/echo) in bench/echo.
%%
%%   erlc -o DIR echo.erl
%%   erl -noshell -pa DIR -run echo start PORT      (PORT 0 picks a free one)
%%
%% Prints "erlang-echo: listening on port N" once it listens; SIGTERM ends
%% the VM (init:stop). On the wire it is weft-echo's twin: a greeting line on
%% connect, then every line echoed; a line longer than 4096 bytes (without
%% its '\n') gets an error line and the connection is closed. It listens on
%% 127.0.0.1 only.
%%
%% One process per connection, as in weft-echo: the acceptor hands each
%% socket to a fresh process (controlling_process, then a go message so the
%% process does not read before it owns the socket). The socket is in
%% {packet, line} mode with {active, once}: the driver frames lines and
%% sends one {tcp, S, Line} message per line; the process echoes it and
%% asks for the next. The driver's buffer is larger than the longest
%% allowed line, so a line is never split; a longer one arrives either whole
%% and too big, or split without its '\n' - both mean "too long".
-module(echo).
-export([start/1]).

-define(MAX_LINE, 4096).
-define(IDLE_TIMEOUT, 600000).

%% Called by init (-run): the acceptor gets its own process, so init stays
%% free to handle init:stop (SIGTERM).
start([Port]) ->
    _ = spawn(fun() -> listen(list_to_integer(Port)) end),
    ok.

listen(Port) ->
    Options = [binary, {packet, line}, {buffer, 2 * ?MAX_LINE}, {active, false},
               {reuseaddr, true}, {nodelay, true}, {backlog, 1024}, {ip, {127, 0, 0, 1}}],
    case gen_tcp:listen(Port, Options) of
        {ok, Listener} ->
            {ok, Bound} = inet:port(Listener),
            io:format("erlang-echo: listening on port ~b~n", [Bound]),
            accept_loop(Listener);
        {error, Reason} ->
            io:format(standard_error, "erlang-echo: cannot listen on port ~b: ~p~n", [Port, Reason]),
            halt(1)
    end.

accept_loop(Listener) ->
    case gen_tcp:accept(Listener) of
        {ok, Socket} ->
            Pid = spawn(fun() -> receive go -> serve(Socket) end end),
            ok = gen_tcp:controlling_process(Socket, Pid),
            Pid ! go;
        {error, _} ->
            timer:sleep(100)  % out of descriptors, say: pause, do not spin
    end,
    accept_loop(Listener).

serve(Socket) ->
    ok = gen_tcp:send(Socket, <<"erlang echo: type a line\n">>),
    loop(Socket).

loop(Socket) ->
    ok = inet:setopts(Socket, [{active, once}]),
    receive
        {tcp, Socket, Line} when byte_size(Line) =< ?MAX_LINE + 1, binary_part(Line, byte_size(Line), -1) =:= <<"\n">> ->
            case gen_tcp:send(Socket, Line) of
                ok -> loop(Socket);
                {error, _} -> gen_tcp:close(Socket)
            end;
        {tcp, Socket, _TooLong} ->
            _ = gen_tcp:send(Socket, <<"error: line longer than 4096 bytes; closing\n">>),
            gen_tcp:close(Socket);
        {tcp_closed, Socket} -> ok;
        {tcp_error, Socket, _} -> gen_tcp:close(Socket)
    after ?IDLE_TIMEOUT ->
        gen_tcp:close(Socket)
    end.
