// FlagPal Dash: the behaviour htmx does not give by itself, and nothing more.
// - The dialog opens when htmx loads content into it, closes from its Close/Cancel
//   buttons or when the server says so (the close-dialog event), and gives focus back.
// - An error answer is swapped only where the server put it (HX-Retarget): an error
//   from anything else, like a proxy's page, is not. An error page without it still
//   has its sentence said in the flash region; without any, one fixed sentence says so.
// - The Copy button copies a new token's value.
// - A token's expiration: entering a custom date chooses Custom date, and choosing
//   another option sets the date aside (cleared, given back if Custom date is chosen
//   again), so what is sent is what is shown chosen.
// Everything here is an enhancement: every action also works as a plain form and link
// without JavaScript.
(function () {
  "use strict";

  // What opened the dialog, and its table row: focus goes back there on close. When
  // the opener itself was replaced (a revoked row has no Revoke button) the row takes it.
  var opener = null;
  var openerRow = null;

  function dialog() {
    return document.getElementById("dialog");
  }

  function showCopyButtons(root) {
    // Hidden in the HTML because without JavaScript they could do nothing.
    root.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function say(message, category) {
    var region = document.getElementById("flash");
    if (!region) return;
    var line = document.createElement("p");
    line.className = "flash flash-" + category;
    line.textContent = message;
    region.replaceChildren(line);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog-content" && !dialog().open) {
      opener = event.detail.elt;
      var row = opener.closest("tr");
      openerRow = row ? row.id : null;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "dialog-content") return;
    var box = dialog();
    showCopyButtons(box);
    if (!box.open) box.showModal();
    var first = box.querySelector("[autofocus]") || box.querySelector("input, button, a[href]");
    if (first) first.focus();
  });

  document.addEventListener("close-dialog", function () {
    dialog().close();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.isError && event.detail.xhr.getResponseHeader("HX-Retarget")) {
      // A refusal the server put where the person acted: shown, so handled, and no
      // htmx:responseError (nor htmx's console error) follows.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The sentence an error answer of this app's carries (error.html, _flash.html), if any.
  function errorMessage(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0) return null;
    // Parsed inert: nothing in it runs or loads.
    var answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var message = answer.querySelector("[data-error-message]");
    return message ? message.textContent.trim() : null;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr.getResponseHeader("HX-Retarget")) {
      say(errorMessage(xhr) || "Something went wrong. Reload the page and try again.", "error");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    say("FlagPal Dash could not be reached. Check your connection and try again.", "error");
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      dialog().close();
      return;
    }
    var copy = event.target.closest("[data-copy-target]");
    if (copy) {
      var field = document.getElementById(copy.getAttribute("data-copy-target"));
      navigator.clipboard.writeText(field.value).then(
        function () {
          copy.textContent = "Copied";
        },
        function () {
          field.select();
          copy.textContent = "Press Ctrl+C to copy";
        }
      );
    }
  });

  function expirationOption(form, value) {
    return form.querySelector('input[name="expiration"][value="' + value + '"]');
  }

  function onExpirationChange(event) {
    var field = event.target;
    var form = field.form;
    if (!form || !form.querySelector("#custom_date")) return;
    var date = form.querySelector("#custom_date");
    if (field === date) {
      var custom = expirationOption(form, "custom");
      if (date.value && custom && !custom.checked) custom.checked = true;
    } else if (field.name === "expiration") {
      if (field.value === "custom") {
        if (!date.value && date.dataset.setAside) date.value = date.dataset.setAside;
      } else if (date.value) {
        date.dataset.setAside = date.value;
        date.value = "";
      }
    }
  }

  // "input" as a date is typed or picked; "change" for the radio buttons.
  document.addEventListener("input", onExpirationChange);
  document.addEventListener("change", onExpirationChange);

  document.addEventListener("DOMContentLoaded", function () {
    showCopyButtons(document);
    dialog().addEventListener("close", function () {
      // Drop the dialog's content, a revealed token value included, from the page.
      document.getElementById("dialog-content").replaceChildren();
      var row = openerRow && document.getElementById(openerRow);
      if (opener && opener.isConnected) opener.focus();
      else if (row) row.focus();
      opener = openerRow = null;
    });
  });
})();
