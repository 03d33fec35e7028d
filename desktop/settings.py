"""The user's settings (QSettings: the platform's usual place) and the dialog to change them.

The theme is not a setting: the app uses the system palette, and ANSI colors on top of it.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFontComboBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from desktop.ui.output_view import DEFAULT_SCROLLBACK

MIN_FONT_SIZE, MAX_FONT_SIZE = 6, 48


class AppSettings:
    """Typed access to the stored settings."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings("SessionDock", "SessionDock")

    def scrollback(self) -> int:
        value = self.store.value("output/scrollback", DEFAULT_SCROLLBACK)
        try:
            return max(1000, int(str(value)))
        except ValueError:
            return DEFAULT_SCROLLBACK

    def set_scrollback(self, lines: int) -> None:
        self.store.setValue("output/scrollback", int(lines))

    def font(self) -> QFont:
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        family = self.store.value("output/font-family")
        size = self.store.value("output/font-size")
        if isinstance(family, str) and family:
            font.setFamily(family)
        if size is not None and str(size).isdigit():
            font.setPointSize(min(MAX_FONT_SIZE, max(MIN_FONT_SIZE, int(str(size)))))
        return font

    def default_font_size(self) -> int:
        """The system's fixed-width font size: what Ctrl+0 goes back to."""
        return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).pointSize()

    def set_font(self, font: QFont) -> None:
        self.store.setValue("output/font-family", font.family())
        self.store.setValue("output/font-size", font.pointSize())

    def notifications(self) -> bool:
        """Tell (a desktop notification, the taskbar) when a Claude session needs you,
        finishes its turn or ends while you look elsewhere. On unless turned off."""
        return str(self.store.value("notifications/enabled", "true")).lower() != "false"

    def set_notifications(self, enabled: bool) -> None:
        self.store.setValue("notifications/enabled", "true" if enabled else "false")


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.scrollback = QSpinBox(minimum=1000, maximum=10_000_000, singleStep=10_000)
        self.scrollback.setValue(settings.scrollback())
        self.scrollback.setSuffix(" lines")
        self.family = QFontComboBox()
        self.family.setFontFilters(QFontComboBox.FontFilter.MonospacedFonts)
        self.family.setCurrentFont(settings.font())
        self.font_size = QSpinBox(minimum=MIN_FONT_SIZE, maximum=MAX_FONT_SIZE)
        self.font_size.setValue(settings.font().pointSize())
        self.notifications = QCheckBox("When a Claude session needs you, finishes or ends")
        self.notifications.setChecked(settings.notifications())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Scrollback", self.scrollback)
        layout.addRow("Font", self.family)
        layout.addRow("Font size", self.font_size)
        layout.addRow("Notify", self.notifications)
        layout.addRow(buttons)

    def accept(self) -> None:
        self.settings.set_scrollback(self.scrollback.value())
        font = self.family.currentFont()
        font.setPointSize(self.font_size.value())
        self.settings.set_font(font)
        self.settings.set_notifications(self.notifications.isChecked())
        super().accept()
