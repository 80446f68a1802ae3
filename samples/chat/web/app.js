// weft-chat's page: one WebSocket to /ws speaking the JSON protocol of
// docs/guide/chat/web.md. No framework: the state is `me`, `rooms` and
// `current`; each server object updates it and the page.
'use strict';

const $ = (id) => document.getElementById(id);
const rooms = new Map();  // folded name -> {name, topic, members: Map(nick -> away text), log: [li]}
let me = null;            // our nick, once welcomed
let current = null;       // the folded name of the room shown
let maxText = 350;        // bytes per message; the server says in welcome
let socket = null;

const fold = (name) => name.toLowerCase();
const room = (name) => rooms.get(fold(name));
const send = (object) => socket.send(JSON.stringify(object));

// -- the connection --------------------------------------------------------------

function connect() {
  socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  socket.onopen = () => {
    status('connected');
    $('login').querySelector('button').disabled = false;
  };
  socket.onclose = (e) => {
    status('disconnected' + (e.reason ? ': ' + e.reason : '') + ' (reload to reconnect)');
    for (const el of [$('text'), $('say').querySelector('button')]) el.disabled = true;
  };
  socket.onmessage = (e) => {
    const m = JSON.parse(e.data);
    (handlers[m.type] || (() => {}))(m);
  };
}

function status(text) { $('status').textContent = text; }

// -- what the server says ----------------------------------------------------------

const handlers = {
  welcome(m) {
    me = m.nick;
    maxText = m.max_text || maxText;
    status('connected to ' + m.server + ' as ' + me);
    $('login').hidden = true;
    $('chat').hidden = false;
    for (const el of [$('text'), $('say').querySelector('button')]) el.disabled = false;
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted) send({type: 'join', room: wanted.startsWith('#') ? wanted : '#' + wanted});
    $('join-room').focus();
  },
  error(m) {
    if (!me) { $('login-error').textContent = m.text; return; }
    line(current, 'error', null, m.text);
  },
  joined(m) {
    const r = {name: m.room, topic: m.topic, members: new Map(m.names.map((n) => [n, ''])), log: []};
    rooms.set(fold(m.room), r);
    for (const h of m.history) said(h, r);
    show(fold(m.room));
  },
  message(m) {
    if (m.room) return said(m, room(m.room));
    // A direct message: shown in the room being looked at.
    const text = m.nick === me ? '→ ' + m.to + ': ' + m.text : m.text;
    line(current, 'private', m.nick, text, m.time);
  },
  topic(m) {
    const r = room(m.room);
    if (!r) return;
    r.topic = m.text;
    said(m, r);
    if (fold(m.room) === current) $('topic').textContent = r.topic;
  },
  join(m) {
    const r = room(m.room);
    if (!r) return;
    r.members.set(m.nick, '');
    line(fold(m.room), 'event', null, m.nick + ' joined', m.time);
    members();
  },
  part(m) {
    if (m.nick === me) return forget(fold(m.room));
    const r = room(m.room);
    if (!r) return;
    r.members.delete(m.nick);
    line(fold(m.room), 'event', null, m.nick + ' left' + (m.reason ? ' (' + m.reason + ')' : ''), m.time);
    members();
  },
  quit(m) {
    for (const [key, r] of rooms) {
      if (r.members.delete(m.nick)) line(key, 'event', null, m.nick + ' quit' + (m.reason ? ' (' + m.reason + ')' : ''), m.time);
    }
    members();
  },
  nick(m) {
    if (m.nick === me) me = m.new;
    for (const [key, r] of rooms) {
      if (!r.members.has(m.nick)) continue;
      r.members.set(m.new, r.members.get(m.nick));
      r.members.delete(m.nick);
      line(key, 'event', null, m.nick + ' is now ' + m.new, m.time);
    }
    members();
  },
  away(m) {
    for (const r of rooms.values()) if (r.members.has(m.nick)) r.members.set(m.nick, m.text);
    if (m.nick === me) line(current, 'event', null, m.text ? 'you are away: ' + m.text : 'you are back', m.time);
    members();
  },
};

// A message or topic of a room, live or from its history.
function said(m, r) {
  if (!r) return;
  const key = fold(r.name);
  if (m.type === 'topic') return line(key, 'event', null, m.nick + ' set the topic: ' + m.text, m.time);
  line(key, m.kind === 'notice' ? 'notice' : 'message', m.nick, m.text, m.time);
}

// -- the page --------------------------------------------------------------------------

function line(key, kind, nick, text, time) {
  const li = document.createElement('li');
  li.className = kind;
  const stamp = document.createElement('time');
  const when = time ? new Date(time) : new Date();
  stamp.textContent = when.toTimeString().slice(0, 5);
  li.append(stamp);
  if (nick) {
    const who = document.createElement('span');
    who.className = 'nick';
    who.textContent = nick;
    who.style.color = colour(nick);
    li.append(who);
  }
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(body);
  const r = rooms.get(key);
  if (r) {
    r.log.push(li);
    if (r.log.length > 1000) r.log.shift();
  }
  if (key === current || !r) {
    const log = $('log');
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(li);
    if (atEnd) log.scrollTop = log.scrollHeight;
  } else {
    listRooms(key);
  }
}

function show(key) {
  current = key;
  const r = rooms.get(key);
  $('room-title').textContent = r ? r.name : 'no room yet';
  $('topic').textContent = r ? r.topic : '';
  $('leave').hidden = !r;
  $('log').replaceChildren(...(r ? r.log : []));
  $('log').scrollTop = $('log').scrollHeight;
  listRooms();
  members();
}

function forget(key) {
  rooms.delete(key);
  if (current === key) show(rooms.keys().next().value || null);
  else listRooms();
}

function listRooms(unread) {
  const list = $('room-list');
  const marked = new Set([...list.children].filter((li) => li.classList.contains('unread')).map((li) => li.dataset.key));
  if (unread) marked.add(unread);
  list.replaceChildren(...[...rooms].map(([key, r]) => {
    const li = document.createElement('li');
    li.textContent = r.name;
    li.dataset.key = key;
    li.classList.toggle('current', key === current);
    li.classList.toggle('unread', key !== current && marked.has(key));
    li.onclick = () => show(key);
    return li;
  }));
}

function members() {
  const r = rooms.get(current);
  const names = r ? [...r.members.keys()].sort((a, b) => a.localeCompare(b)) : [];
  $('member-list').replaceChildren(...names.map((n) => {
    const li = document.createElement('li');
    li.textContent = n;
    li.style.color = colour(n);
    if (r.members.get(n)) { li.classList.add('away'); li.title = 'away: ' + r.members.get(n); }
    return li;
  }));
}

function colour(nick) {
  let h = 0;
  for (const c of nick) h = (h * 31 + c.codePointAt(0)) % 360;
  return 'hsl(' + h + ', 55%, 38%)';
}

// -- what the user does ---------------------------------------------------------------

// Long input goes as several messages of at most maxText bytes of UTF-8.
function pieces(text) {
  const encoder = new TextEncoder();
  const out = [];
  let piece = '', bytes = 0;
  for (const c of text) {
    const n = encoder.encode(c).length;
    if (bytes + n > maxText) { out.push(piece); piece = ''; bytes = 0; }
    piece += c;
    bytes += n;
  }
  if (piece) out.push(piece);
  return out;
}

function command(input) {
  const [word, ...rest] = input.slice(1).split(' ');
  const arg = rest.join(' ');
  const target = rooms.get(current);
  switch (word.toLowerCase()) {
    case 'join': return send({type: 'join', room: arg.startsWith('#') || arg.startsWith('&') ? arg : '#' + arg});
    case 'part': return target && send({type: 'part', room: target.name, reason: arg});
    case 'nick': return send({type: 'nick', nick: arg});
    case 'topic': return target && send({type: 'topic', room: target.name, text: arg});
    case 'away': return send({type: 'away', text: arg});
    case 'msg': {
      const [to, ...words] = rest;
      for (const p of pieces(words.join(' '))) send({type: 'say', to, text: p});
      return;
    }
    default: line(current, 'error', null, 'unknown command /' + word);
  }
}

$('login').onsubmit = (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  send({type: 'hello', nick: $('nick').value.trim()});
};

$('join').onsubmit = (e) => {
  e.preventDefault();
  command('/join ' + $('join-room').value.trim());
  $('join-room').value = '';
};

$('say').onsubmit = (e) => {
  e.preventDefault();
  const input = $('text').value;
  $('text').value = '';
  if (input.startsWith('/')) return command(input);
  const target = rooms.get(current);
  if (!target) return line(current, 'error', null, 'join a room first (/join #room)');
  for (const p of pieces(input)) send({type: 'say', room: target.name, text: p});
};

$('leave').onclick = () => {
  const target = rooms.get(current);
  if (target) send({type: 'part', room: target.name});
};

connect();
