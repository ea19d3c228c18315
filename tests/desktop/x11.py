#!/usr/bin/env python3
"""What a person does on an X11 desktop, for the desktop test under a bare Xvfb (no window
manager), with only libX11 and libXtst (ctypes):

    x11.py close TITLE   a WM_DELETE_WINDOW client message to each mapped top-level window titled
                         TITLE, as a window manager's close button sends (WebDriver's "close
                         window" would end the session, and WebKitWebDriver would kill the app);
                         exits 1 when no such window is mapped
    x11.py shown TITLE   prints how many top-level windows titled TITLE are mapped; exits 1 when
                         none is
    x11.py wait TITLE [S]  returns once a window titled TITLE is mapped (checked every 5 ms);
                         exits 1 after S seconds (default 20) without one
    x11.py keys COMBO    presses and releases a key combination such as ctrl+shift+r through the
                         XTEST extension, as a keyboard does (a global shortcut hears it)
"""

import ctypes
import ctypes.util
import sys
import time

Window = Atom = ctypes.c_ulong


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


class XWindowAttributes(ctypes.Structure):
    # Only map_state is read; the rest of the struct is sized generously.
    _fields_ = [
        ("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
        ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
        ("root", Window), ("class_", ctypes.c_int), ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong), ("map_installed", ctypes.c_int),
        ("map_state", ctypes.c_int), ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long), ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int), ("screen", ctypes.c_void_p),
    ]


CLIENT_MESSAGE = 33
IS_VIEWABLE = 2


def xlib():
    x = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = Window
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                             ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
    x.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
    x.XGetWindowAttributes.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(XWindowAttributes)]
    x.XInternAtom.restype = Atom
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
    x.XFree.argtypes = [ctypes.c_void_p]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x.XStringToKeysym.restype = ctypes.c_ulong
    x.XStringToKeysym.argtypes = [ctypes.c_char_p]
    x.XKeysymToKeycode.restype = ctypes.c_ubyte
    x.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    return x


def mapped(x, display, title: str) -> list:
    """The mapped top-level windows titled TITLE."""
    root, parent = Window(), Window()
    children, count = ctypes.POINTER(Window)(), ctypes.c_uint()
    x.XQueryTree(display, x.XDefaultRootWindow(display), ctypes.byref(root), ctypes.byref(parent),
                 ctypes.byref(children), ctypes.byref(count))
    found = []
    for i in range(count.value):
        window = children[i]
        name = ctypes.c_char_p()
        if not x.XFetchName(display, window, ctypes.byref(name)) or name.value is None:
            continue
        matches = name.value.decode(errors="replace") == title
        x.XFree(name)
        attrs = XWindowAttributes()
        x.XGetWindowAttributes(display, window, ctypes.byref(attrs))
        if matches and attrs.map_state == IS_VIEWABLE:
            found.append(window)
    if children:
        x.XFree(children)
    return found


def on_display(verb) -> int:
    """Runs VERB(x, display) on the default display, closed after; 2 when it cannot be opened."""
    x = xlib()
    display = x.XOpenDisplay(None)
    if not display:
        print("x11.py: cannot open the display", file=sys.stderr)
        return 2
    try:
        return verb(x, display)
    finally:
        x.XCloseDisplay(display)


def close(x, display, title: str) -> int:
    protocols = x.XInternAtom(display, b"WM_PROTOCOLS", 0)
    delete = x.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
    windows = mapped(x, display, title)
    for window in windows:
        event = XEvent()
        event.xclient.type = CLIENT_MESSAGE
        event.xclient.window = window
        event.xclient.message_type = protocols
        event.xclient.format = 32
        event.xclient.data[0] = delete
        event.xclient.data[1] = 0  # CurrentTime
        x.XSendEvent(display, window, 0, 0, ctypes.byref(event))
    x.XFlush(display)
    return 0 if windows else 1


def shown(x, display, title: str) -> int:
    count = len(mapped(x, display, title))
    print(count)
    return 0 if count else 1


def wait(x, display, title: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while not mapped(x, display, title):
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.005)
    return 0


KEYSYMS = {"ctrl": "Control_L", "control": "Control_L", "shift": "Shift_L", "alt": "Alt_L", "super": "Super_L"}


def keys(x, display, combo: str) -> int:
    xtst = ctypes.cdll.LoadLibrary(ctypes.util.find_library("Xtst") or "libXtst.so.6")
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    codes = []
    for name in combo.split("+"):
        keysym = x.XStringToKeysym(KEYSYMS.get(name.lower(), name.lower()).encode())
        code = x.XKeysymToKeycode(display, keysym)
        if not keysym or not code:
            print(f"x11.py: no key {name!r}", file=sys.stderr)
            return 2
        codes.append(code)
    for code in codes:
        xtst.XTestFakeKeyEvent(display, code, 1, 0)
    for code in reversed(codes):
        xtst.XTestFakeKeyEvent(display, code, 0, 0)
    x.XFlush(display)
    return 0


if __name__ == "__main__":
    verb, arg = (sys.argv[1:3] + ["", ""])[:2]
    if verb == "close":
        sys.exit(on_display(lambda x, d: close(x, d, arg or "Hark")))
    if verb == "shown":
        sys.exit(on_display(lambda x, d: shown(x, d, arg or "Hark")))
    if verb == "wait":
        seconds = float((sys.argv[3:4] or ["20"])[0])
        sys.exit(on_display(lambda x, d: wait(x, d, arg or "Hark", seconds)))
    if verb == "keys" and arg:
        sys.exit(on_display(lambda x, d: keys(x, d, arg)))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
