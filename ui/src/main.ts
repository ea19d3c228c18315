/**
 * The window's entry point: the stylesheet and the `<hark-app>` element (index.html has the tag).
 * No inline scripts anywhere: the shell's CSP is `script-src 'self'`.
 */
import './styles.css';
import './app/hark-app.js';
