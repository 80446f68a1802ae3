#!/usr/bin/python3
"""weft-chat's web page in a real browser.

Starts the built weft-chat (private ports, a temporary --data), one
chromedriver, and two headless Chromium sessions on the page. Each picks a
nick and joins #weft; an IRC user joins too. They exchange messages (each
sees the others'), one sets the topic, one leaves and the other sees it
leave. Then a screenshot of one page is saved, and the browser's console
must hold no error.

    /usr/bin/python3 tests/chat/browser_test.py build/release/samples/chat/weft-chat \\
        [--screenshot docs/guide/chat/web.png]

Every wait polls with a deadline; whatever happens, the browsers,
chromedriver and the server are stopped at the end. Needs Debian's
chromium, chromium-driver and python3-selenium.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77  # ctest's SKIP_RETURN_CODE: what this test needs is not installed
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print('skipped: python3-selenium is not installed (run with /usr/bin/python3)')
    sys.exit(SKIP)

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
# Generous: the machine running this may be busy building.
TIMEOUT = 60
PORTS = range(18100, 19000)


def free_ports(count):
    """`count` distinct ports of PORTS nobody listens on now."""
    chosen = []
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise RuntimeError('no free ports in %d-%d' % (PORTS.start, PORTS.stop - 1))


def wait_until(what, predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (OSError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.05)  # the polling interval, not a wait for something


def page_answers(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


class irc_user:
    """A bare IRC client on a socket: enough to join and talk."""

    def __init__(self, port, nick):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
        self.buffer = b''
        self.send('NICK %s' % nick)
        self.send('USER %s 0 * :%s' % (nick, nick))
        self.wait_for(' 001 ')

    def send(self, line):
        self.sock.sendall(line.encode() + b'\r\n')

    def wait_for(self, text):
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b'\n' in self.buffer:
                line, self.buffer = self.buffer.split(b'\n', 1)
                line = line.decode(errors='replace').rstrip('\r')
                if line.startswith('PING'):
                    self.send('PONG' + line[4:])
                if text in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError('IRC: timed out waiting for ' + text)
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError('IRC: the server closed while waiting for ' + text)
            self.buffer += chunk

    def close(self):
        self.sock.close()


class chat_page:
    """One browser session on the page."""

    def __init__(self, driver_url, profile, url):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                     '--disable-background-networking', '--disable-component-update', '--disable-sync',
                     '--disable-dev-shm-usage', '--window-size=1100,600', '--user-data-dir=' + profile):
            options.add_argument(flag)
        options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        self.driver = webdriver.Remote(command_executor=driver_url, options=options)
        self.driver.set_page_load_timeout(TIMEOUT)
        self.driver.get(url)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait(self, what, predicate):
        WebDriverWait(self.driver, TIMEOUT, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: predicate(), 'timed out waiting for ' + what)

    # The page re-renders its lists as events come: read them in one
    # script, not element by element (an element read later may be gone).
    def texts(self, css):
        return self.driver.execute_script(
            'return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);', css)

    def log_has(self, text):
        return any(text in line for line in self.texts('#log li'))

    def members(self):
        return self.texts('#member-list li')

    def enter(self, nick):
        self.wait('the WebSocket to open', lambda: self.find('#login button').is_enabled())
        self.find('#nick').send_keys(nick, Keys.ENTER)
        self.wait('the welcome', lambda: self.find('#chat').is_displayed() and not self.find('#login').is_displayed())

    def join(self, room):
        self.find('#join-room').send_keys(room, Keys.ENTER)
        self.wait('the room to open', lambda: self.find('#room-title').text == room)

    def say(self, text):
        self.find('#text').send_keys(text, Keys.ENTER)

    def console_errors(self):
        return [e for e in self.driver.get_log('browser') if e.get('level') == 'SEVERE']

    def quit(self):
        self.driver.quit()


def run(binary, screenshot, scratch):
    irc_port, ws_port, driver_port = free_ports(3)
    server_log = open(os.path.join(scratch, 'server.log'), 'w')
    started = []  # processes to stop, last started first
    pages = []
    irc = None
    try:
        server = subprocess.Popen([binary, '--irc-port', str(irc_port), '--ws-port', str(ws_port), '--bind', '127.0.0.1',
                                   '--data', os.path.join(scratch, 'data'), '--workers', '2'],
                                  stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(server)
        url = 'http://127.0.0.1:%d/' % ws_port
        wait_until('weft-chat to serve ' + url, lambda: server.poll() is None and page_answers(url))

        driver = subprocess.Popen([CHROMEDRIVER, '--port=%d' % driver_port], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(driver)
        driver_url = 'http://127.0.0.1:%d' % driver_port
        wait_until('chromedriver', lambda: driver.poll() is None and page_answers(driver_url + '/status'))

        ada = chat_page(driver_url, os.path.join(scratch, 'profile-ada'), url + '#weft')
        pages.append(ada)
        bob = chat_page(driver_url, os.path.join(scratch, 'profile-bob'), url)
        pages.append(bob)

        ada.enter('ada')
        # The page joins the room its address names (#weft) once welcomed.
        ada.wait('#weft from the address', lambda: ada.find('#room-title').text == '#weft')
        ada.say('/topic weft-chat: IRC and the web in the same rooms')
        ada.wait('the topic', lambda: 'IRC and the web' in ada.find('#topic').text)

        bob.enter('bob')
        bob.join('#weft')
        bob.wait('the topic on joining', lambda: 'IRC and the web' in bob.find('#topic').text)
        ada.wait('bob to join', lambda: ada.log_has('bob joined') and 'bob' in ada.members())

        irc = irc_user(irc_port, 'ian')
        irc.send('JOIN #weft')
        irc.wait_for(' 366 ')
        ada.wait('ian to join', lambda: 'ian' in ada.members())

        ada.say('hello bob, this is ada in Chromium')
        bob.wait("ada's message", lambda: bob.log_has('hello bob, this is ada in Chromium'))
        ada.wait('her own message back', lambda: ada.log_has('hello bob, this is ada in Chromium'))
        irc.wait_for(':ada!web@127.0.0.1 PRIVMSG #weft :hello bob, this is ada in Chromium')

        bob.say('hi ada! bob here, in another session')
        ada.wait("bob's message", lambda: ada.log_has('hi ada! bob here, in another session'))

        irc.send('PRIVMSG #weft :and ian, from IRC')
        ada.wait("ian's message", lambda: ada.log_has('and ian, from IRC'))
        bob.wait("ian's message", lambda: bob.log_has('and ian, from IRC'))

        bob.find('#leave').click()
        bob.wait('the room to close', lambda: bob.find('#room-title').text == 'no room yet')
        ada.wait('bob to leave', lambda: ada.log_has('bob left') and 'bob' not in ada.members())
        irc.wait_for(':bob!web@127.0.0.1 PART #weft')

        ada.driver.save_screenshot(screenshot)
        for page, name in ((ada, 'ada'), (bob, 'bob')):
            errors = page.console_errors()
            if errors:
                raise AssertionError("%s's console has errors: %s" % (name, errors))
        print('browser test passed; screenshot in', screenshot)
    except Exception:
        server_log.flush()
        with open(server_log.name) as f:
            sys.stderr.write('--- weft-chat output ---\n' + f.read())
        raise
    finally:
        if irc:
            irc.close()
        for page in pages:
            try:
                page.quit()
            except Exception as e:  # the session may be gone already; the process group goes below
                sys.stderr.write('closing a browser session: %s\n' % e)
        for process in reversed(started):
            stop(process)
        server_log.close()


def stop(process):
    """SIGTERM to the process's own group (chromedriver's browsers are in
    it), then SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # What the group leader left behind (a browser that outlived its driver).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('binary', help='the weft-chat to test')
    parser.add_argument('--screenshot', help='where to save the page (default: a temporary file)')
    args = parser.parse_args()
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not os.access(needed, os.X_OK):
            print('skipped: %s is not installed' % needed)
            return SKIP
    scratch = tempfile.mkdtemp(prefix='weft-chat-browser-')
    try:
        screenshot = args.screenshot or os.path.join(scratch, 'page.png')
        run(os.path.abspath(args.binary), screenshot, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
