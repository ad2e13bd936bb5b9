// The link to the same page in the other language, in the menu bar of every page.
// The English book is built into book/, the Chinese one into book/zh-CN/ (`cargo xtask book`).
(function () {
    "use strict";
    const chinese = document.documentElement.lang === "zh-CN";
    // The root of this book, and where the current page sits below it.
    const root = new URL(path_to_root || "./", window.location.href);
    const page = window.location.href.slice(root.href.length) || "index.html";
    const other = new URL(chinese ? "../" + page : "zh-CN/" + page, root);

    const link = document.createElement("a");
    link.href = other.href;
    link.lang = chinese ? "en" : "zh-CN";
    link.textContent = chinese ? "English" : "中文";
    link.title = chinese ? "Read this page in English" : "阅读本页的中文版";
    link.className = "lang-switch";

    const buttons = document.querySelector(".right-buttons");
    if (buttons) {
        buttons.prepend(link);
    }
})();
